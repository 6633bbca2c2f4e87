"""An HTML evaluation report with plots: per-tag F1, precision-recall, thresholds, training, codes."""

from __future__ import annotations

import base64
import html
import io
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _per_tag(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, ...]:
    tp = (y_true & y_pred).sum(0).astype(float)
    fp = (~y_true & y_pred).sum(0).astype(float)
    fn = (y_true & ~y_pred).sum(0).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        r = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    return p, r, f, y_true.sum(0)


def micro_pr_curve(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Micro-averaged precision and recall over all (job, tag) cells, thresholds sweeping scores."""
    order = np.argsort(-scores.ravel(), kind="stable")
    truth = y_true.ravel()[order]
    tp = np.cumsum(truth)
    k = np.arange(1, len(truth) + 1)
    return tp / k, tp / max(int(truth.sum()), 1)


def _curves(plt: Any, history: dict[str, Sequence[float]]) -> Any:
    """Losses (own scale) on the left, validation scores (0..1) on the right: never one axis."""
    losses = {k: v for k, v in history.items() if v and "loss" in k}
    scores = {k: v for k, v in history.items() if v and "loss" not in k}
    panels = [(n, d) for n, d in (("loss", losses), ("validation score", scores)) if d]
    fig, axes = plt.subplots(1, len(panels), figsize=(12, 4), squeeze=False)
    for ax, (ylabel, curves) in zip(axes[0], panels, strict=True):
        for name, values in curves.items():
            ax.plot(range(1, len(values) + 1), values, marker="o", ms=3, label=name)
        ax.set(xlabel="epoch", ylabel=ylabel, title=ylabel.capitalize() + " per epoch")
        if ylabel != "loss":
            ax.set_ylim(0, 1.02)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _codes(plt: Any, codes: np.ndarray, labels: Sequence[str] | None) -> Any:
    """Scatter of the codes on their first two principal components, one colour per label."""
    centered = codes - codes.mean(0, keepdims=True)
    _u, sv, vt = np.linalg.svd(centered, full_matrices=False)
    xy = centered @ vt[:2].T if vt.shape[0] >= 2 else np.c_[centered[:, :1], np.zeros(len(codes))]
    explained = (sv[:2] ** 2 / max(float((sv**2).sum()), 1e-12)) if len(sv) else np.zeros(2)
    fig, ax = plt.subplots(figsize=(12, 6))
    names = np.asarray(labels if labels is not None else ["jobs"] * len(codes), dtype=object)
    cmap = plt.get_cmap("tab20")
    for k, name in enumerate(sorted(set(names.tolist()))):
        mask = names == name
        ax.scatter(xy[mask, 0], xy[mask, 1], s=10, alpha=0.7, color=cmap(k % 20), label=str(name))
    ax.set(xlabel=f"PC 1 ({explained[0]:.0%} of variance)",
           ylabel=f"PC 2 ({explained[1] if len(explained) > 1 else 0:.0%})",
           title=f"{codes.shape[1]}-d codes of {len(codes)} jobs")  # fmt: skip
    ax.legend(fontsize=7, markerscale=2, ncol=1 + len(set(names.tolist())) // 20,
              bbox_to_anchor=(1.01, 1), loc="upper left")  # fmt: skip
    return fig


def _f1_vs_support(
    plt: Any, tags: Sequence[str], f: np.ndarray, support: np.ndarray, zero: list[int]
) -> Any:
    """Per-tag F1 against support (log); every zero-F1 tag named, the 12 most frequent labelled."""
    present = support > 0
    fig, ax = plt.subplots(figsize=(12, 5))
    ax.scatter(support[present], f[present], s=14, alpha=0.7)
    ax.scatter(support[zero], f[zero], s=22, color="#d93025", label="F1 = 0 (named)", zorder=3)
    for n, i in enumerate(zero):  # every zero-F1 tag is named, staggered so names do not overlap
        ax.annotate(tags[i], (support[i], 0.0), xytext=(2, 6 + 9 * (n % 6)),
                    textcoords="offset points", fontsize=7, color="#d93025", rotation=20)  # fmt: skip
    for i in np.argsort(-support)[:12]:
        if present[i] and f[i] > 0:
            ax.annotate(tags[i], (support[i], f[i]), fontsize=7, alpha=0.8)
    if zero:
        ax.legend(fontsize=8, loc="lower right")
    ax.set_xscale("log")
    ax.set(
        xlabel="test jobs with the tag (support, log)", ylabel="F1", title="Per-tag F1 vs support"
    )
    return fig


def _pr_curve(plt: Any, y_true: np.ndarray, scores: np.ndarray, metrics: dict[str, Any]) -> Any:
    """The micro precision-recall curve, with the model's operating point (its thresholds)."""
    prec, rec = micro_pr_curve(y_true, scores)
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.plot(rec, prec, lw=1.5)
    ax.scatter([metrics.get("recall_micro", 0)], [metrics.get("precision_micro", 0)], color="red",
               zorder=3, label="per-tag thresholds")  # fmt: skip
    ax.set(xlabel="recall (micro)", ylabel="precision (micro)", xlim=(0, 1), ylim=(0, 1.02),
           title="Micro precision-recall")  # fmt: skip
    ax.legend()
    return fig


def _html(
    title: str,
    n_jobs: int,
    tags: Sequence[str],
    thresholds: np.ndarray,
    metrics: dict[str, Any],
    per_tag: tuple[np.ndarray, ...],
    zero: list[int],
    figs: list[tuple[str, str]],
) -> str:
    """The page: headline metrics, zero-F1 tags, the plots, the per-tag table (by support)."""
    p, r, f, support = per_tag
    rows = []
    for i in np.argsort(-support):
        rows.append(
            f"<tr><td>{html.escape(tags[i])}</td><td>{int(support[i])}</td>"
            f"<td>{thresholds[i]:.3f}</td><td>{p[i]:.3f}</td><td>{r[i]:.3f}</td><td>{f[i]:.3f}</td></tr>"
        )
    headline = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>"
        for k, v in metrics.items()
        if isinstance(v, float)
    )
    images = "".join(
        f"<h2>{html.escape(name)}</h2><img alt='{html.escape(name)}' src='data:image/png;base64,{b64}'>"
        for name, b64 in figs
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font:14px system-ui,sans-serif;margin:2rem}}
table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #ddd;padding:.25rem .6rem;text-align:right}}
td:first-child,th:first-child{{text-align:left}}img{{width:100%;max-width:100rem}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{n_jobs} jobs, {int((support > 0).sum())} of {len(tags)} tags occur. <code>binary_accuracy</code> counts
every (job, tag) cell, so a model that predicts no tag at all already scores high: read micro/macro-F1.</p>
<table>{headline}</table>
<p>Tags present with F1 = 0: {html.escape(", ".join(tags[i] for i in zero)) or "none"}.</p>{images}
<h2>Thresholds and per-tag figures</h2>
<table><tr><th>tag</th><th>support</th><th>threshold</th><th>precision</th><th>recall</th><th>F1</th></tr>
{"".join(rows)}</table></body></html>"""


def write_report(
    out_dir: Path,
    y_true: np.ndarray,
    scores: np.ndarray,
    y_pred: np.ndarray,
    tags: Sequence[str],
    thresholds: np.ndarray,
    metrics: dict[str, Any],
    history: dict[str, Sequence[float]] | None = None,
    codes: np.ndarray | None = None,
    code_labels: Sequence[str] | None = None,
    title: str = "jobtag evaluation",
) -> Path:
    """Write out_dir/index.html (plots embedded as PNG) and metrics.json; returns the page."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    per_tag = _per_tag(y_true, y_pred)
    f, support = per_tag[2], per_tag[3]
    zero = [i for i in range(len(tags)) if support[i] > 0 and f[i] == 0.0]
    figs = [
        ("Per-tag F1 vs support", _png(_f1_vs_support(plt, tags, f, support, zero))),
        ("Micro precision-recall curve", _png(_pr_curve(plt, y_true, scores, metrics))),
    ]
    if history and any(history.values()):
        figs.append(("Training curves", _png(_curves(plt, history))))
    if codes is not None and len(codes):
        figs.append(("The autoencoder's codes, projected to 2-d (PCA), coloured by first true tag",
                     _png(_codes(plt, codes, code_labels))))  # fmt: skip
    page = _html(title, len(y_true), tags, thresholds, metrics, per_tag, zero, figs)
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
    log.info("report written to %s", path)
    return path
