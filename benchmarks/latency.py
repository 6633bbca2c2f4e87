"""Single-job predict latency with a loaded model, with and without explanations, one core.

    python benchmarks/latency.py --home DIR [--jobs FILE] [-n 300]

Uses the active model of the store in DIR (e.g. after `jobtag --home DIR train`, or the demo's
folder) and the jobs of FILE (default: the store's own jobs); nothing is recorded. Each job is
timed as `predict` alone and as `predict(explain=True)` (what `predict --explain` and
`POST /predict {"explain": true}` do), alternating, so both see the same machine load. Every
timed call gets a job the store has not seen (its description ends in a number of its own, which
featurizing drops from the bag), so neither reads features cached by the other or by an earlier
run: each pays for featurizing, as a new job does.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from jobtag.app import Tagger
from jobtag.config import load_settings
from jobtag.jobfiles import read_jobs
from jobtag.records import make_job


def _row(name: str, ms: list[float], base: float) -> str:
    q = statistics.quantiles(ms, n=100)
    return f"| {name} | {len(ms)} | {q[49]:.2f} | {q[89]:.2f} | {q[98]:.2f} | {q[49] / base:.2f}x |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--home", required=True, type=Path)
    ap.add_argument("--jobs", type=Path)
    ap.add_argument("-n", type=int, default=300)
    args = ap.parse_args()
    torch.set_num_threads(1)
    # the environment counts (JOBTAG_FEATURES__EMBEDDER=minilm for an accurate-mode model)
    with Tagger(load_settings(overrides={"home": args.home})) as tagger:
        source = read_jobs(args.jobs) if args.jobs else tagger.store.iter_jobs()
        jobs = []
        for job in source:
            if job.title.strip() or job.description.strip():
                jobs.append(make_job(job.title, job.description, job.job_id))
            if len(jobs) >= args.n:
                break
        tagger.load_model()
        tagger.predict(jobs[:5], record=False, explain=True)  # warm up
        plain, explained = [], []
        salt = time.time_ns()
        for k, job in enumerate(jobs):
            fresh = [
                make_job(job.title, f"{job.description} {salt}{k}{e}", job.job_id) for e in (0, 1)
            ]
            t0 = time.perf_counter()
            tagger.predict([fresh[0]], record=False)
            plain.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            tagger.predict([fresh[1]], record=False, explain=True)
            explained.append((time.perf_counter() - t0) * 1000)
    base = statistics.median(plain)
    print("| predict | jobs | p50 ms | p90 ms | p99 ms | p50 vs plain |")
    print("|---|---:|---:|---:|---:|---:|")
    print(_row("plain", plain, base))
    print(_row("with explanations", explained, base))


if __name__ == "__main__":
    main()
