"""Batch prediction of a job file: error rows that name their line, atomic output, a summary."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from jobtag.app import Prediction, Tagger
from jobtag.errors import InputError
from jobtag.jobfiles import CHUNK, BatchRow, read_batch


@dataclass
class BatchResult:
    """What a batch run did: jobs predicted, bad rows (line, job_id, error), where it wrote."""

    predicted: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    output: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"predicted": self.predicted, "errors": len(self.errors),
                "error_rows": self.errors, "output": self.output}  # fmt: skip


class _Writer:
    """Prediction and error rows as CSV (job_id, tags, scores, error[, explanations]) or JSONL."""

    def __init__(self, fh: TextIO, fmt: str, top_k: int | None, explain: bool) -> None:
        self.fh, self.fmt, self.top_k, self.explain = fh, fmt, top_k, explain
        self.csv = csv.writer(fh) if fmt == "csv" else None
        if self.csv is not None:
            self.csv.writerow(["job_id", "tags", "scores", "error", *(["explanations"] * explain)])

    def prediction(self, p: Prediction) -> None:
        d = p.to_dict(self.top_k)
        if self.csv is None:
            self.fh.write(json.dumps(d) + "\n")
            return
        extra = [json.dumps(d.get("explanations", {}))] if self.explain else []
        self.csv.writerow([d["job_id"], "|".join(d["tags"]), json.dumps(d["scores"]), "", *extra])

    def error(self, row: dict[str, Any]) -> None:
        if self.csv is None:
            self.fh.write(json.dumps(row) + "\n")
        else:
            self.csv.writerow([row["job_id"] or "", "", "", row["error"], *([""] * self.explain)])


def predict_file(
    tagger: Tagger,
    path: str | Path,
    out: Path | TextIO,
    *,
    fmt: str = "csv",
    strict: bool = False,
    record: bool = True,
    explain: bool = False,
    top_k: int | None = None,
    on_error: Callable[[str], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> BatchResult:
    """Predict every job of a batch file into `out` (a path, written atomically, or a stream).

    A bad row becomes an error row naming its line (and `on_error(message)`); with `strict` the
    first bad row raises InputError before any job is predicted or recorded, and a path `out`
    is not created. Jobs are predicted (and
    recorded) in chunks of 256 in file order."""
    result = BatchResult(output=str(out) if isinstance(out, Path) else None)
    tmp: Path | None = None
    if strict:  # check every row first: a bad row stops the run before anything is recorded
        for row in read_batch(path):
            if row.error is not None:
                raise InputError(f"{path} {row.error}")
    if isinstance(out, Path):
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        fh: TextIO = open(tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
    else:
        fh = out
    try:
        writer = _Writer(fh, fmt, top_k, explain)
        pending: list[BatchRow] = []

        def flush() -> None:
            jobs = [r.job for r in pending if r.job is not None]
            preds = iter(tagger.predict(jobs, record=record, explain=explain) if jobs else [])
            for r in pending:
                if r.job is None:
                    row = {"job_id": r.job_id, "line": r.line, "error": r.error}
                    writer.error(row)
                    result.errors.append(row)
                else:
                    writer.prediction(next(preds))
                    result.predicted += 1
            if progress:
                progress(len(pending))
            pending.clear()

        for row in read_batch(path):
            if row.error is not None:
                if strict:
                    raise InputError(f"{path} {row.error}")
                if on_error:
                    on_error(f"{path} {row.error}")
            pending.append(row)
            if len(pending) >= CHUNK:
                flush()
        flush()
        fh.flush()
        if tmp is not None:
            fh.close()
            tmp.replace(out)  # type: ignore[arg-type]
            tmp = None
    finally:
        if tmp is not None:
            fh.close()
            tmp.unlink(missing_ok=True)
    return result
