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
    p, r, f, support = _per_tag(y_true, y_pred)
    present = support > 0
    figs: list[tuple[str, str]] = []

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter(support[present], f[present], s=14, alpha=0.7)
    for i in np.argsort(-support)[:12]:
        if present[i]:
            ax.annotate(tags[i], (support[i], f[i]), fontsize=7, alpha=0.8)
    ax.set_xscale("log")
    ax.set(
        xlabel="test jobs with the tag (support, log)", ylabel="F1", title="Per-tag F1 vs support"
    )
    figs.append(("Per-tag F1 vs support", _png(fig)))

    prec, rec = micro_pr_curve(y_true, scores)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.plot(rec, prec, lw=1.5)
    ax.scatter([metrics.get("recall_micro", 0)], [metrics.get("precision_micro", 0)], color="red",
               zorder=3, label="per-tag thresholds")  # fmt: skip
    ax.set(xlabel="recall (micro)", ylabel="precision (micro)", xlim=(0, 1), ylim=(0, 1.02),
           title="Micro precision-recall")  # fmt: skip
    ax.legend()
    figs.append(("Micro precision-recall curve", _png(fig)))

    if history:
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for name, values in history.items():
            if values:
                ax.plot(range(1, len(values) + 1), values, marker="o", ms=3, label=name)
        ax.set(xlabel="epoch", title="Training curves")
        ax.legend(fontsize=8)
        figs.append(("Training curves", _png(fig)))

    if codes is not None and len(codes):
        order = (
            np.argsort(np.asarray(code_labels, dtype=object).astype(str)) if code_labels else None
        )
        shown = codes[order] if order is not None else codes
        fig, ax = plt.subplots(figsize=(8, 5))
        im = ax.imshow(shown[:200], aspect="auto", cmap="viridis", interpolation="nearest")
        fig.colorbar(im, ax=ax)
        ax.set(xlabel=f"code dimension (0..{codes.shape[1] - 1})",
               ylabel="job (sorted by first true tag)", title="Autoencoder codes")  # fmt: skip
        figs.append(("Heat map of the 100-d codes", _png(fig)))

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
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font:14px system-ui,sans-serif;margin:2rem;max-width:60rem}}
table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #ddd;padding:.25rem .6rem;text-align:right}}
td:first-child,th:first-child{{text-align:left}}img{{max-width:100%}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{len(y_true)} jobs, {int(present.sum())} of {len(tags)} tags occur. <code>binary_accuracy</code> counts
every (job, tag) cell, so a model that predicts no tag at all already scores high: read micro/macro-F1.</p>
<table>{headline}</table>{images}
<h2>Thresholds and per-tag figures</h2>
<table><tr><th>tag</th><th>support</th><th>threshold</th><th>precision</th><th>recall</th><th>F1</th></tr>
{"".join(rows)}</table></body></html>"""
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
    log.info("report written to %s", path)
    return path
