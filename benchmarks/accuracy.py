"""Accuracy + speed benchmark: jobtag vs TF-IDF/SVM, hashing/LogReg, fastText (+ MiniLM) on the real sets.

Full run (the lead's; ~1 hour and more with --minilm, on this 2-core machine):

    python benchmarks/accuracy.py --minilm --json bench-out/accuracy.json

Smoke run (subsampled, tiny grids, one set, one seed; a few minutes):

    python benchmarks/accuracy.py --quick --sets wuzzuf-categories --seeds 13

Options: --sets S1,S2 --methods M1,M2 --seeds 13,14,15 --data DIR (default $JOBTAG_DATA, else
../shared/data beside the repository) --json OUT (every per-seed row + the per-method summary).

Protocol (../shared/data/README.md): train on the labeled train jobs (jobtag also gets the
unlabeled train-side jobs for its autoencoder), choose hyper-parameters and decision thresholds on
a seeded 10% validation slice of train only, refit on all train, score test; never tune on test.
Every (set, method) runs once per seed (default 13, 14, 15: the validation slice and the model's
seed; --quick's subsample stays fixed) and the table reports mean and min–max over seeds of
micro-F1 (all (job, tag) decisions) and macro-F1 (tags that occur in test), both with
scikit-learn, plus medians of train s, predict jobs/s, peak RSS and model size. Every method gives
a job at least its top tag (unless --no-at-least-one).

Methods: peers tfidf-svm, hash-logreg, fasttext; with --minilm (opt-in: MiniLM embeds ~25-55
jobs/s) minilm-lr (all-MiniLM-L6-v2 embeddings -> one-vs-rest LR) and svm+minilm (score fusion);
jobtag rows: jobtag (plain defaults = `jobtag train`), jobtag-wide (deep path removed:
deep_weights=(0,)), jobtag-seed (the seed architecture alone: wide=False), jobtag-labeled-ae (no
unlabeled jobs: the autoencoder code learned on the labeled train jobs only), jobtag-stacked
(the static vectors stacked: a ridge per tag), jobtag-bag (no sentence vectors: embedder none),
jobtag-residual (the deep path as five residual layers of 256, no positive weighting, batches of
256) and, with --minilm, jobtag-accurate (the MiniLM network's embeddings). Per set the notes give jobtag's
predict jobs/s / fastText's, jobtag − the best peer (highest mean micro-F1), and the ablation
deltas jobtag − jobtag-wide and jobtag − jobtag-labeled-ae (mean, and the per-seed range).

Each (set, method, seed) runs in its own child process (`--one SET METHOD`; peers tune first in
another, `--tune`), which reports its peak RSS; predict jobs/s is raw job -> tags
(vectorizing/featurization/embedding included) on one core, the median of `--repeats` passes over
the test jobs (one pass for the MiniLM peers, whose embeddings are otherwise cached within the run;
jobtag builds a fresh featurizer per pass, its process-wide word memos warm after the first).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import (  # noqa: E402
    DATA_HELP,
    SETS,
    BenchSet,
    job_text,
    label_matrix,
    load_set,
    resolve_data_dir,
    validation_split,
)
from _jobtag import (  # noqa: E402
    JOBTAG_CONFIGS,
    MINILM_JOBTAG,
    UNLABELED,
    jobtag_configs,
    median_time,
    run_jobtag,
)
from _report import aggregate, markdown  # noqa: E402
from peers import (  # noqa: E402
    ALL_PEERS,
    MINILM_PEERS,
    PEERS,
    THRESHOLD_POLICIES,
    Choice,
    TunedPeer,
    tune,
)
from threadpoolctl import threadpool_limits  # noqa: E402

log = logging.getLogger("accuracy")
QUICK_SEED = 13  # --quick's subsample is fixed: seeds vary only the validation slice and models
FULL_RUN = "python benchmarks/accuracy.py --minilm --json bench-out/accuracy.json"


def score(y_true: np.ndarray, y_pred: np.ndarray, test_cols: list[int]) -> tuple[float, float]:
    """(micro-F1 over all columns, macro-F1 over the columns of tags that occur in test)."""
    micro = f1_score(y_true, y_pred, average="micro", zero_division=0)
    macro = f1_score(y_true, y_pred, labels=test_cols, average="macro", zero_division=0)
    return float(micro), float(macro)


def tune_peer(set_name: str, method: str, args: argparse.Namespace) -> dict:
    """Choose a peer's grid point and thresholds on the validation slice (child `--tune`)."""
    bench = load_set(resolve_data_dir(args.data), set_name, quick=args.quick, seed=QUICK_SEED)
    y = label_matrix(bench.train, bench.tags)
    texts = [job_text(j) for j in bench.train]
    fit_idx, val_idx = validation_split(len(texts), 0.1, args.seed)
    t0 = time.perf_counter()
    with threadpool_limits(1):
        choice = tune(
            method,
            texts,
            y,
            fit_idx,
            val_idx,
            quick=args.quick,
            policy=args.thresholds,
            at_least_one=args.at_least_one,
            seed=args.seed,
        )
    return {
        **choice.to_json(),
        "tune_s": time.perf_counter() - t0,
        "tune_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def run_peer(bench: BenchSet, tags: list[str], method: str, args: argparse.Namespace) -> dict:
    """Refit a peer on all train with the choice of `--chosen` (tuning here if absent), predict."""
    if args.chosen:
        tuned_json = json.loads(Path(args.chosen).read_text(encoding="utf-8"))
    else:
        tuned_json = tune_peer(bench.name, method, args)
    choice = Choice.from_json(tuned_json)
    y = label_matrix(bench.train, tags)
    with threadpool_limits(1):
        tuned = TunedPeer.fit(choice, [job_text(j) for j in bench.train], y)

    def predict(_: Any) -> np.ndarray:
        return tuned.predict([job_text(j) for j in bench.test], args.at_least_one)

    with threadpool_limits(1):
        if method in MINILM_PEERS:  # embeddings computed afresh in the timed pass; ~10 s a pass
            from peers_minilm import uncached

            with uncached():
                seconds, pred = median_time(predict, 1, min_total_s=0.0)
        else:
            seconds, pred = median_time(predict, args.repeats)
    return {
        "train_s": tuned.fit_seconds,
        "tune_s": tuned_json["tune_s"],
        "tune_rss_mb": tuned_json["tune_rss_mb"],
        "predict_s": seconds,
        "pred": pred,
        "params": {**choice.params, "thresholds": choice.threshold_policy},
        "val_micro_f1": choice.val_micro_f1,
        "trials": choice.trials,
    }


def run_one(set_name: str, method: str, args: argparse.Namespace) -> dict:
    """Train, tune and score one method on one set in this process; returns the table row."""
    bench = load_set(resolve_data_dir(args.data), set_name, quick=args.quick, seed=QUICK_SEED)
    tags = bench.tags
    row: dict[str, Any] = {
        "set": set_name,
        "method": method,
        "seed": args.seed,
        "n_train": len(bench.train),
        "n_unlabeled": len(bench.unlabeled),
        "n_test": len(bench.test),
        "quick": args.quick,
        "at_least_one": args.at_least_one,
        "threshold_policy": args.thresholds if method in ALL_PEERS else "jobtag's own",
    }
    if method in ALL_PEERS:
        out = run_peer(bench, tags, method, args)
    else:
        out = run_jobtag(bench, tags, method, args)
    if "skipped" in out:
        return {**row, "skipped": out["skipped"]}
    y_test = label_matrix(bench.test, tags)
    index = {t: i for i, t in enumerate(tags)}
    micro, macro = score(y_test, out.pop("pred"), [index[t] for t in bench.test_tags()])
    row.update(out)
    row.update(
        micro_f1=micro,
        macro_f1=macro,
        predict_jobs_s=len(bench.test) / out["predict_s"] if out["predict_s"] > 0 else None,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    )
    return row


def _child(args: argparse.Namespace, seed: int, *mode: str) -> tuple[int, dict | None]:
    cmd = [sys.executable, str(Path(__file__).resolve()), *mode, "--seed", str(seed)]
    cmd += ["--repeats", str(args.repeats)]
    if args.data:
        cmd += ["--data", args.data]
    if args.quick:
        cmd.append("--quick")
    if not args.at_least_one:
        cmd.append("--no-at-least-one")
    cmd += ["--thresholds", args.thresholds]
    for spec in args.jobtag_variant or []:
        cmd += ["--jobtag-variant", spec]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    return proc.returncode, (json.loads(lines[-1]) if lines else None)


def run_child(set_name: str, method: str, seed: int, args: argparse.Namespace) -> dict:
    """Tune (peers) and then fit + score in fresh interpreters, so peak RSS is the method's own."""
    t0 = time.perf_counter()
    mode = ["--one", set_name, method]
    head = {"set": set_name, "method": method, "seed": seed}
    if method in ALL_PEERS:
        log.info("tuning %s on %s, seed %d", method, set_name, seed)
        rc, chosen = _child(args, seed, "--tune", set_name, method)
        if rc != 0 or chosen is None:
            return {**head, "error": f"tuning child exited {rc}"}
        fd, path = tempfile.mkstemp(prefix="jobtag-bench-choice-", suffix=".json", dir="/tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(chosen, fh)
        mode += ["--chosen", path]
    log.info("fitting and scoring %s on %s, seed %d", method, set_name, seed)
    try:
        rc, row = _child(args, seed, *mode)
    finally:
        if method in ALL_PEERS:
            os.unlink(path)
    if rc != 0 or row is None:
        return {**head, "error": f"child exited {rc}"}
    row["wall_s"] = time.perf_counter() - t0
    return row


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--seeds {text!r}: expected integers") from exc
    if not seeds:
        raise argparse.ArgumentTypeError("--seeds: at least one seed")
    return list(dict.fromkeys(seeds))


def select_methods(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The methods to run and, for those that cannot run here, why (-> skipped rows)."""
    if args.methods:
        methods = [m for m in args.methods.split(",") if m]
    else:
        try:
            jobtag = list(jobtag_configs(args.jobtag_variant))
        except ImportError:
            jobtag = ["jobtag"]
        if not args.minilm:
            jobtag = [m for m in jobtag if m not in MINILM_JOBTAG]
        methods = list(PEERS) + (list(MINILM_PEERS) if args.minilm else []) + jobtag
    skip: dict[str, str] = {}
    needs_minilm = set(MINILM_PEERS) | set(MINILM_JOBTAG)
    if any(m in needs_minilm for m in methods):
        from peers_minilm import minilm_missing

        reason = minilm_missing()
        if reason:
            skip = {m: reason for m in methods if m in needs_minilm}
    return methods, skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], epilog="Full run: " + FULL_RUN
    )
    parser.add_argument("--data", help=DATA_HELP)
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated set names")
    parser.add_argument(
        "--methods",
        help=f"comma-separated (default: {', '.join(PEERS)}, the MiniLM peers with --minilm, "
        f"and {', '.join(JOBTAG_CONFIGS)})",
    )
    parser.add_argument("--json", metavar="OUT", help="write every per-seed row + the summary")
    parser.add_argument("--quick", action="store_true", help="subsample + tiny grids (smoke run)")
    parser.add_argument(
        "--seeds",
        type=_seeds,
        default=[13, 14, 15],
        help="comma-separated seeds (validation slice + model seed); default 13,14,15",
    )
    parser.add_argument("--seed", type=int, default=13, help=argparse.SUPPRESS)  # a child's seed
    parser.add_argument(
        "--minilm",
        action="store_true",
        help=f"add the opt-in MiniLM peers ({', '.join(MINILM_PEERS)}; needs the 'minilm' extra, "
        "skipped with a message without it; ~25-55 jobs/s to embed)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="predict passes (median)")
    parser.add_argument(
        "--no-at-least-one",
        dest="at_least_one",
        action="store_false",
        help="do not give a job whose scores pass no threshold its top tag (default: every "
        "method does, as jobtag's default min_one_tag does)",
    )
    parser.add_argument(
        "--thresholds",
        choices=THRESHOLD_POLICIES,
        default="auto",
        help="peers' threshold policy: per-tag (global for tags with < 3 validation positives), "
        "global, or auto (default: per-tag≥3, per-tag≥10 or global, chosen by 2-fold "
        "cross-fitting inside the validation slice)",
    )
    parser.add_argument(
        "--jobtag-variant",
        action="append",
        metavar="NAME:FIELD=VALUE,...",
        help=f"an extra jobtag configuration (TrainSettings overrides; a list as a;b;c; "
        f"{UNLABELED}=false: no unlabeled jobs)",
    )
    parser.add_argument("--one", nargs=2, metavar=("SET", "METHOD"), help=argparse.SUPPRESS)
    parser.add_argument("--tune", nargs=2, metavar=("SET", "METHOD"), help=argparse.SUPPRESS)
    parser.add_argument("--chosen", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    if args.tune:
        print(json.dumps(tune_peer(args.tune[0], args.tune[1], args)), flush=True)
        return 0
    if args.one:
        print(json.dumps(run_one(args.one[0], args.one[1], args)), flush=True)
        return 0
    resolve_data_dir(args.data)
    sets = [s for s in args.sets.split(",") if s]
    methods, skip = select_methods(args)
    for reason in dict.fromkeys(skip.values()):
        print(reason, file=sys.stderr, flush=True)
    cache_dir = None
    if any(m in set(MINILM_PEERS) | set(MINILM_JOBTAG) and m not in skip for m in methods):
        from peers_minilm import CACHE_ENV

        # one embedding cache for this run's children; removed at the end
        cache_dir = tempfile.mkdtemp(prefix="jobtag-bench-minilm-", dir="/tmp")
        os.environ[CACHE_ENV] = cache_dir
    rows: list[dict] = []
    try:
        for s in sets:
            for m in methods:
                for seed in args.seeds:
                    if m in skip:
                        rows.append({"set": s, "method": m, "seed": seed, "skipped": skip[m]})
                    else:
                        rows.append(run_child(s, m, seed, args))
    finally:
        if cache_dir:
            shutil.rmtree(cache_dir, ignore_errors=True)
    sys.stdout.write(markdown(rows) + "\n")
    if args.json:
        out = {"seeds": args.seeds, "rows": rows, "summary": aggregate(rows)}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
