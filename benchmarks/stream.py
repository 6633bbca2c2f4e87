"""The learning loop measured: start from 30% of train, stream the rest in batches of 100.

The start model is a plain `Tagger.train` on 30% of train (no hold-out: it trains on all of them);
each update is judged on the judge slice of the labeled jobs that arrived since the served model
was made (see `jobtag.updating`). Scenarios (issues 4, 7), each in a fresh SQLite store, side by
side with a full retrain:
  full  train on all of train (+ unlabeled pool): the line to reach, and its time.
  a     with corrections: every streamed job gets its true tags as feedback; update after 100.
  b     no corrections: self-training only (confident predictions as pseudo-labels).
  c     new tag: one tag (Reuters `coffee`) hidden from the initial training; <= 10 corrected
        jobs carrying it are fed; its test F1 and the micro-F1 over the old tags are reported.

    python benchmarks/stream.py --sets reuters-modapte wuzzuf-categories [--plot out.png]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import load_set, resolve_data_dir  # noqa: E402

from jobtag.app import Tagger  # noqa: E402
from jobtag.config import load_settings  # noqa: E402
from jobtag.evaluation.metrics import multilabel_metrics  # noqa: E402
from jobtag.records import (
    Job,  # noqa: E402
    label_matrix,  # noqa: E402
    make_job,  # noqa: E402
)
from jobtag.updating import run_update  # noqa: E402

log = logging.getLogger("stream")
HIDDEN_TAG = {"reuters-modapte": "coffee", "wuzzuf-categories": None}


def _tagger(folder: Path) -> Tagger:
    settings = load_settings(overrides={"home": folder, "db_url": None}, environ={})
    settings.update.auto = False  # the benchmark calls the update itself, every 100 jobs
    return Tagger(settings)


def _score(tagger: Tagger, test: list[Job], test_batch, tags: list[str] | None = None) -> dict:
    model, _ = tagger.load_model()
    scores = model.scores(test_batch)
    pred = model.decide(scores)
    cols = tags or model.tags
    idx = [model.tags.index(t) for t in cols if t in model.tags]
    names = [model.tags[i] for i in idx]
    y = label_matrix([j.tags for j in test], names)
    present = y.any(0)
    m = multilabel_metrics(y[:, present], pred[:, idx][:, present], scores[:, idx][:, present])
    return {"micro_f1": m["micro_f1"], "macro_f1": m["macro_f1"], "per_tag": dict(
        zip([n for n, p in zip(names, present, strict=True) if p], _f1s(y[:, present],
            pred[:, idx][:, present]), strict=True))}  # fmt: skip


def _f1s(y: np.ndarray, p: np.ndarray) -> list[float]:
    tp = (y & p).sum(0)
    denom = y.sum(0) + p.sum(0)
    return [float(2 * a / b) if b else 0.0 for a, b in zip(tp, denom, strict=True)]


def _train(folder: Path, labeled: list[Job], unlabeled: list[Job]) -> tuple[Tagger, float]:
    tagger = _tagger(folder)
    tagger.store.import_jobs(labeled + unlabeled, source="bench")
    t0 = time.perf_counter()
    tagger.train(progress=False)
    return tagger, time.perf_counter() - t0


def _stream(tagger: Tagger, jobs: list[Job], test, test_batch, correct, curve, times, promoted):
    for start in range(0, len(jobs), 100):
        chunk = jobs[start : start + 100]
        tagger.predict([make_job(j.title, j.description, j.job_id) for j in chunk], source="bench")
        for j in chunk:
            if correct(j):
                tagger.feedback(j.job_id, sorted(j.tags or ()), who="bench")
        if len(chunk) < 100 and start:
            break  # an incomplete last batch waits for more jobs, as in production
        result = run_update(tagger)
        times.append(result.seconds)
        promoted.append(result.promoted)
        curve.append(_score(tagger, test, test_batch)["micro_f1"])
        log.info("update %d: %s", len(curve), result.summary())


def run_set(name: str, data: Path, out: dict, quick: bool) -> None:
    bench = load_set(data, name, quick=quick)
    rng = random.Random(13)
    # Jobs with neither title nor text (47 in Reuters train) cannot be sent to predict: skip them.
    train = [j for j in bench.train if j.title.strip() or j.description.strip()]
    rng.shuffle(train)
    cut = int(0.3 * len(train))
    initial, rest = train[:cut], train[cut:]
    tmp = Path(tempfile.mkdtemp(prefix=f"stream-{name}-"))
    rows = []

    full, full_s = _train(tmp / "full", train, bench.unlabeled)
    test_batch = full.featurize_jobs(bench.test)
    f_full = _score(full, bench.test, test_batch)["micro_f1"]
    rows.append(("full retrain", f_full, full_s, None))
    full.close()

    base, _ = _train(tmp / "a", initial, bench.unlabeled)
    f_start = _score(base, bench.test, test_batch)["micro_f1"]
    curve_a, times_a, promoted_a = [f_start], [], []
    _stream(base, rest, bench.test, test_batch, lambda j: True, curve_a, times_a, promoted_a)
    rows.append(("a: corrections", curve_a[-1], float(np.median(times_a)), curve_a))
    base.close()

    base, _ = _train(tmp / "b", initial, bench.unlabeled)
    curve_b, times_b, promoted_b = [f_start], [], []
    _stream(base, rest, bench.test, test_batch, lambda j: False, curve_b, times_b, promoted_b)
    rows.append(("b: self-training", curve_b[-1], float(np.median(times_b)), curve_b))
    base.close()

    result = {"f_full": f_full, "full_s": full_s, "f_start": f_start, "rows": rows,
              "a_ratio": curve_a[-1] / f_full, "a_update_frac": max(times_a) / full_s,
              "a_median_frac": float(np.median(times_a)) / full_s,
              "b_update_frac": max(times_b) / full_s,
              "a_promoted": promoted_a, "b_promoted": promoted_b,
              "a_update_seconds": times_a, "b_update_seconds": times_b,
              "b_min": min(curve_b), "b_gain": curve_b[-1] - f_start}  # fmt: skip

    hidden = HIDDEN_TAG.get(name)
    if hidden:
        hide = [replace(j, tags=(j.tags - {hidden}) or None) for j in initial]
        old = sorted({t for j in hide for t in j.tags or ()})
        base, _ = _train(tmp / "c", hide, bench.unlabeled)
        before = _score(base, bench.test, test_batch, old)["micro_f1"]
        carriers = [j for j in rest if hidden in (j.tags or ())][:10]
        others = [j for j in rest if hidden not in (j.tags or ())][: 100 - len(carriers)]
        base.predict([make_job(j.title, j.description, j.job_id) for j in carriers + others])
        for j in carriers:
            base.feedback(j.job_id, sorted(j.tags), who="bench")
        upd = run_update(base)
        log.info("c: %s", upd.summary())
        after_old = _score(base, bench.test, test_batch, old)["micro_f1"]
        tag_f1 = _score(base, bench.test, test_batch, [hidden])["per_tag"].get(hidden, 0.0)
        result["c"] = {"tag": hidden, "fed": len(carriers), "tag_f1": tag_f1,
                       "old_micro_before": before, "old_micro_after": after_old,
                       "promoted": upd.promoted, "seconds": upd.seconds}  # fmt: skip
        base.close()
    out[name] = result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sets", nargs="+", default=["reuters-modapte", "wuzzuf-categories"])
    ap.add_argument("--data")
    ap.add_argument("--quick", action="store_true", help="subsample (smoke run)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--plot", help="write a PNG of test micro-F1 after each update")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    data = resolve_data_dir(args.data)
    out: dict = {}
    for name in args.sets:
        run_set(name, data, out, args.quick)
    print("| set | scenario | test micro-F1 | seconds (train / median update) | goal |")
    print("|---|---|---|---|---|")
    for name, r in out.items():
        for label, f1, secs, _curve in r["rows"]:
            goal = {"full retrain": "reference",
                    "a: corrections": f"{r['a_ratio']:.3f}x full (>= 0.97); update median "
                                      f"{r['a_median_frac']:.3f}x / slowest "
                                      f"{r['a_update_frac']:.3f}x full train (<= 0.05); "
                                      f"{sum(r['a_promoted'])}/{len(r['a_promoted'])} promoted",
                    "b: self-training": f"min {r['b_min']:.4f} vs start {r['f_start']:.4f} "
                                        f"(never below); gain {r['b_gain']:+.4f}; slowest update "
                                        f"{r['b_update_frac']:.3f}x; "
                                        f"{sum(r['b_promoted'])}/{len(r['b_promoted'])} promoted"
                    }[label]  # fmt: skip
            print(f"| {name} | {label} | {f1:.4f} | {secs:.1f} | {goal} |")
        if "c" in r:
            c = r["c"]
            print(f"| {name} | c: new tag `{c['tag']}` ({c['fed']} corrected jobs) | tag F1 "
                  f"{c['tag_f1']:.3f} | old-tag micro-F1 {c['old_micro_before']:.4f} -> "
                  f"{c['old_micro_after']:.4f} ({c['seconds']:.1f}s, promoted={c['promoted']}) "
                  "| tag F1 >= .5, drop <= .01 |")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(out), figsize=(6 * len(out), 4), squeeze=False)
        for ax, (name, r) in zip(axes[0], out.items(), strict=True):
            for label, _f1, _s, curve in r["rows"]:
                if curve:
                    ax.plot(curve, marker=".", label=label)
            ax.axhline(r["f_full"], color="k", ls="--", label="full retrain")
            ax.set(title=name, xlabel="update", ylabel="test micro-F1")
            ax.legend()
        fig.savefig(args.plot, dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    main()
