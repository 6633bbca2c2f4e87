"""Accuracy benchmark report: per-seed rows -> per (set, method) mean and spread, table, notes."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from peers import ALL_PEERS

SPEED_GOAL = 0.25  # jobtag's predict jobs/s >= this x fastText's
MICRO_MARGIN = 0.01  # the goal: jobtag micro-F1 >= best peer's + this, macro-F1 >= best peer's


def spread(values: Sequence[float]) -> dict[str, float | int]:
    """mean, sample std (0 for one value), min, max and n of `values` (at least one)."""
    if not values:
        raise ValueError("spread of no values")
    vals = [float(v) for v in values]
    return {
        "mean": statistics.fmean(vals),
        "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
        "min": min(vals),
        "max": max(vals),
        "n": len(vals),
    }


def _median(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def aggregate(rows: list[dict]) -> list[dict]:
    """One entry per (set, method), in first-seen order, over the seeds that ran."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["set"], r["method"]), []).append(r)
    out = []
    for (set_name, method), group in groups.items():
        ok = [r for r in group if "micro_f1" in r]
        agg: dict[str, Any] = {
            "set": set_name,
            "method": method,
            "seeds": [r.get("seed") for r in ok],
            "failed": {
                str(r.get("seed")): r.get("skipped") or r.get("error") or "no result"
                for r in group
                if "micro_f1" not in r
            },
        }
        if not ok:
            agg["skipped"] = next(iter(agg["failed"].values()), "no result")
            out.append(agg)
            continue
        agg["micro_f1"] = spread([r["micro_f1"] for r in ok])
        agg["macro_f1"] = spread([r["macro_f1"] for r in ok])
        for key in ("train_s", "tune_s", "predict_jobs_s", "peak_rss_mb", "model_mb"):
            agg[key] = _median(ok, key)
        weights = [r["deep_weight"] for r in ok if r.get("deep_weight") is not None]
        if weights:
            agg["deep_weight"] = statistics.fmean(weights)
            agg["deep_weight_nonzero"] = sum(w > 0 for w in weights)
        agg["chosen"] = [_params(r.get("params"), r.get("wide_C")) for r in ok]
        out.append(agg)
    return out


def _params(p: dict | None, wide_c: float | None = None) -> str:
    items = dict(p or {})
    if wide_c is not None:
        items["wide_C"] = wide_c
    return " ".join(f"{k}={v}" for k, v in items.items()) or "defaults"


def _fmt(value: Any, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _f1(s: dict) -> str:
    if s["n"] == 1:
        return f"{s['mean']:.3f}"
    return f"{s['mean']:.3f} ({s['min']:.3f}–{s['max']:.3f})"


def _by(aggs: list[dict], set_name: str, method: str) -> dict | None:
    return next(
        (a for a in aggs if a["set"] == set_name and a["method"] == method and "micro_f1" in a),
        None,
    )


def _paired(rows: list[dict], set_name: str, a: str, b: str, key: str) -> list[float]:
    """Per-seed differences a - b of `key` over the seeds where both ran."""
    runs = {
        (r["method"], r.get("seed")): r[key]
        for r in rows
        if r["set"] == set_name and key in r and r["method"] in (a, b)
    }
    seeds = sorted({s for (m, s) in runs if m == a} & {s for (m, s) in runs if m == b})
    return [runs[(a, s)] - runs[(b, s)] for s in seeds]


def notes(aggs: list[dict], rows: list[dict]) -> list[str]:
    """Per set: speed vs fastText, jobtag vs the best peer, and the ablation deltas."""
    out: list[str] = []
    for set_name in dict.fromkeys(a["set"] for a in aggs):
        ft = _by(aggs, set_name, "fasttext")
        jobtags = [a for a in aggs if a["set"] == set_name and a["method"].startswith("jobtag")]
        for a in jobtags:
            if "micro_f1" in a and ft and ft.get("predict_jobs_s") and a.get("predict_jobs_s"):
                ratio = a["predict_jobs_s"] / ft["predict_jobs_s"]
                ok = "meets" if ratio >= SPEED_GOAL else "misses"
                out.append(
                    f"- {set_name}: {a['method']} predicts at {ratio:.2f}× fastText's jobs/s "
                    f"({ok} the ≥ {SPEED_GOAL}× goal)"
                )
        peers = [a for a in aggs if a["set"] == set_name and a["method"] in ALL_PEERS]
        peers = [a for a in peers if "micro_f1" in a]
        jt = _by(aggs, set_name, "jobtag")
        if peers and jt:
            best = max(peers, key=lambda a: a["micro_f1"]["mean"])
            dmi = jt["micro_f1"]["mean"] - best["micro_f1"]["mean"]
            dma = jt["macro_f1"]["mean"] - best["macro_f1"]["mean"]
            ok = "meets" if dmi >= MICRO_MARGIN and dma >= 0 else "misses"
            out.append(
                f"- {set_name}: best peer {best['method']} (mean micro {best['micro_f1']['mean']:.3f}); "
                f"jobtag − best peer: micro {dmi:+.3f}, macro {dma:+.3f} ({ok} the goal micro ≥ "
                f"+{MICRO_MARGIN}, macro ≥ 0)"
            )
        for other, what in (
            ("jobtag-wide", "the deep path adds"),
            ("jobtag-labeled-ae", "unlabeled jobs add"),
        ):
            ot = _by(aggs, set_name, other)
            if not (jt and ot):
                continue
            parts = []
            for key, label in (("micro_f1", "micro"), ("macro_f1", "macro")):
                d = _paired(rows, set_name, "jobtag", other, key)
                rng = f" (per seed {min(d):+.3f}…{max(d):+.3f})" if len(d) > 1 else ""
                parts.append(f"{label} {jt[key]['mean'] - ot[key]['mean']:+.3f}{rng}")
            out.append(f"- {set_name}: jobtag − {other} ({what}): {', '.join(parts)}")
    return out


def markdown(rows: list[dict]) -> str:
    """The README table (mean and min–max over seeds) plus the per-set notes."""
    aggs = aggregate(rows)
    lines = [
        "| set | method | seeds | micro-F1 mean (min–max) | macro-F1 mean (min–max) | train s "
        "| tuning s | predict jobs/s | peak RSS MB | model MB | deep weight (seeds > 0) "
        "| chosen on validation |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for a in aggs:
        if "micro_f1" not in a:
            lines.append(
                f"| {a['set']} | {a['method']} | 0 | – | – | – | – | – | – | – | – | {a['skipped']} |"
            )
            continue
        dw = (
            f"{a['deep_weight']:.2f} ({a['deep_weight_nonzero']}/{len(a['seeds'])})"
            if "deep_weight" in a
            else "–"
        )
        chosen = "; ".join(dict.fromkeys(a["chosen"]))
        if a["failed"]:
            chosen += f"; failed seeds: {a['failed']}"
        lines.append(
            f"| {a['set']} | {a['method']} | {len(a['seeds'])} | {_f1(a['micro_f1'])} "
            f"| {_f1(a['macro_f1'])} | {_fmt(a['train_s'], '.1f')} | {_fmt(a['tune_s'], '.1f')} "
            f"| {_fmt(a['predict_jobs_s'], ',.0f')} | {_fmt(a['peak_rss_mb'], ',.0f')} "
            f"| {_fmt(a['model_mb'], '.1f')} | {dw} | {chosen} |"
        )
    extra = notes(aggs, rows)
    done = [r for r in rows if "micro_f1" in r]
    if done:
        first = next((r for r in done if r["method"] in ALL_PEERS), done[0])
        policy = "on" if first.get("at_least_one") else "off"
        seeds = sorted({r.get("seed") for r in done}, key=str)
        extra.append(
            f"- every method, seeds {', '.join(map(str, seeds))} (each seed: validation slice + "
            f"model seed); thresholds (and peers' grid point) chosen on a seeded 10% validation "
            f"slice of train (peers' threshold policy: {first.get('threshold_policy', '?')}); at "
            f"least one tag per job (top score) {policy}; F1 as mean (min–max) over seeds; train "
            f"s, predict jobs/s (raw job → tags on one core), peak RSS and model MB are medians "
            f"over seeds" + ("; QUICK smoke run (subsampled)" if first.get("quick") else "")
        )
    return "\n".join(lines + ([""] + extra if extra else []))
