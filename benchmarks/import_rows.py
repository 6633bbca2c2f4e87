"""Import speed and memory of the job store: Reuters train into SQLite, and a synthetic N-row file.

    python benchmarks/import_rows.py                 # Reuters (median of 3) + 1,000,000 rows
    python benchmarks/import_rows.py --rows 0        # Reuters only
    python benchmarks/import_rows.py --rows 200000 --runs 5

Each synthetic import runs in a child process that reports its own peak RSS (ru_maxrss), next to
a peer file 10x smaller in the same run, so memory growth with file size shows directly.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REUTERS = ROOT.parent / "shared" / "data" / "reuters-modapte" / "train.csv.gz"
WORDS = tuple(
    [
        "data",
        "python",
        "sales",
        "manager",
        "engineer",
        "senior",
        "junior",
        "remote",
        "team",
        "customer",
        "support",
        "design",
        "cloud",
        "network",
        "security",
        "finance",
        "report",
        "office",
        "product",
        "market",
    ]
)


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def import_once(path: Path, db: Path) -> dict:
    from jobtag.store import JobStore

    store = JobStore(f"sqlite:///{db}")
    start_rss = peak_rss_mb()
    t0 = time.perf_counter()
    result = store.import_file(path)
    seconds = time.perf_counter() - t0
    store.close()
    return {"jobs": result.jobs, "seconds": seconds, "start_rss_mb": start_rss,
            "peak_rss_mb": peak_rss_mb()}  # fmt: skip


def write_synthetic(path: Path, rows: int, tags_per_job: int, seed: int = 7) -> int:
    """Write `rows` rows (rows / tags_per_job jobs, short random descriptions); returns jobs."""
    rng = random.Random(seed)
    jobs = rows // tags_per_job
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["job_id", "job_title", "job_description", "company_id", "company_name",
                    "job_tag_id", "job_tag_name"])  # fmt: skip
        for j in range(jobs):
            title = " ".join(rng.choices(WORDS, k=3))
            desc = " ".join(rng.choices(WORDS, k=40))
            company = str(j % 997)
            for t in rng.sample(range(200), tags_per_job):
                w.writerow([f"S{j}", title, desc, company, f"Company {company}", t, f"tag{t}"])
    return jobs


def in_child(path: Path, db: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path), str(db)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=REUTERS, help="row-format file to time")
    ap.add_argument("--runs", type=int, default=3, help="imports of --data (median reported)")
    ap.add_argument("--rows", type=int, default=1_000_000, help="synthetic rows (0: skip)")
    ap.add_argument("--tags-per-job", type=int, default=4)
    ap.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.child:
        print(json.dumps(import_once(*args.child)))
        return

    table: list[tuple[str, str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="jobtag-bench-") as tmp:
        tmpdir = Path(tmp)
        if args.data.is_file():
            runs = [import_once(args.data, tmpdir / f"reuters{i}.db") for i in range(args.runs)]
            secs = statistics.median(r["seconds"] for r in runs)
            jobs = runs[0]["jobs"]
            table.append((args.data.name, f"{jobs:,}", f"{secs:.2f}", f"{jobs / secs:,.0f}",
                          f"{max(r['peak_rss_mb'] for r in runs):.0f}"))  # fmt: skip
        else:
            print(f"skipping {args.data}: not found", file=sys.stderr)
        if args.rows:
            for rows in (args.rows // 10, args.rows):
                path = tmpdir / f"synthetic-{rows}.csv"
                t0 = time.perf_counter()
                jobs = write_synthetic(path, rows, args.tags_per_job)
                gen = time.perf_counter() - t0
                r = in_child(path, tmpdir / f"synthetic-{rows}.db")
                table.append((f"synthetic {rows:,} rows ({path.stat().st_size / 2**20:.0f} MB, "
                              f"written in {gen:.1f}s)", f"{jobs:,}", f"{r['seconds']:.2f}",
                              f"{jobs / r['seconds']:,.0f}",
                              f"{r['peak_rss_mb']:.0f} (at start {r['start_rss_mb']:.0f})"))  # fmt: skip
    head = ("input", "jobs", "seconds", "jobs/s", "peak RSS MB")
    widths = [max(len(str(row[i])) for row in [head, *table]) for i in range(len(head))]
    for row in [head, tuple("-" * w for w in widths), *table]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
