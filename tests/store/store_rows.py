"""Small hand-written rows of the row format for the store tests (no shared data)."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

HEADER = ["job_id", "job_title", "job_description", "company_id", "company_name",
          "job_tag_id", "job_tag_name"]  # fmt: skip

# (job_id, title, description, tag or "") - one row per (job, tag), like the shared data
ROWS = [
    ("1", "Python developer", "Build <b>APIs</b> in Python.", "c1", "Acme", "python"),
    ("1", "Python developer", "Build <b>APIs</b> in Python.", "c1", "Acme", "backend"),
    ("2", "Accountant", "Books, ledgers and taxes.", "c2", "Numbers Ltd", "finance"),
    ("3", "Night guard", "Watch the building.", "", "", ""),
    ("4", "Data engineer", "Pipelines, SQL, Spark — naïve café ☕.", "c1", "Acme", "backend"),
]


def write_rows(path: Path, rows, header=HEADER, gz: bool | None = None) -> Path:
    """Write rows of the row format (tag id = tag name) to CSV, gzipped when the name ends .gz."""
    gz = path.name.endswith(".gz") if gz is None else gz
    opener = gzip.open if gz else open
    with opener(path, "wt", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in rows:
            if len(header) == len(HEADER) and len(r) == 6:
                r = (*r[:5], r[5], r[5])
            w.writerow(r)
    return path
