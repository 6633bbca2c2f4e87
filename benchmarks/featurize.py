"""Featurization benchmark: jobs/s per stage and end to end, per POS tagger, with peak RSS.

    python benchmarks/featurize.py [--data DIR] [--sets wuzzuf-categories/train,...]
                                   [--taggers fast,spacy] [--repeats 3] [--spacy-jobs 300]

Each (set, tagger) runs in its own child process pinned to one core (BLAS/OpenMP threads 1),
which reports its peak RSS. Every figure is the median of `--repeats` runs; each run builds fresh
components, so memo dicts start cold (lexicon/model loading is not timed). Stages, each timed on
its own over all jobs of the set (spaCy: the first `--spacy-jobs` jobs):

    clean      HTML -> plain text (title and description)
    stats      the six text statistics of the cleaned text
    pos        contraction expansion + POS class counts with the tagger
    stem+hash  contraction expansion, words, stop words, stems, hashed ids
    end-to-end Featurizer.transform (everything above + bag/tokens assembly)
    cached     Featurizer.transform again with every job in an in-memory cache (no tagger)

The set "wuzzuf-categories/train@html" is the same jobs with descriptions turned into HTML
(sentences as <p>, wrapped in <div>) and escaped once more, as job boards often send them.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import DATA_HELP, iter_jobs, resolve_data_dir  # noqa: E402

from jobtag.config import FeatureSettings  # noqa: E402
from jobtag.features.cache import MemoryFeatureCache  # noqa: E402
from jobtag.features.clean import HtmlCleaner, expand_contractions  # noqa: E402
from jobtag.features.pipeline import _WORD_IDS, Featurizer  # noqa: E402
from jobtag.features.pos import FastTagger, get_tagger  # noqa: E402
from jobtag.features.textstats import text_stats  # noqa: E402
from jobtag.records import Job  # noqa: E402

DEFAULT_SETS = "wuzzuf-categories/train,wuzzuf-categories/train@html,reuters-modapte/train"
STAGES = ("clean", "stats", "pos", "stem+hash", "end-to-end", "cached")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def as_escaped_html(job: Job) -> Job:
    """The job with its description as HTML paragraphs, escaped once more (`&lt;p&gt;...`)."""
    paragraphs = "".join(f"<p>{html.escape(s)}</p>" for s in _SENTENCE_END.split(job.description))
    return Job(job.job_id, job.title, html.escape(f"<div>{paragraphs}</div>"))


def load_jobs(data_dir: Path, spec: str) -> list[Job]:
    name, _, variant = spec.partition("@")
    jobs = list(iter_jobs(data_dir / f"{name}.csv.gz"))
    return [as_escaped_html(j) for j in jobs] if variant == "html" else jobs


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_one(data_dir: Path, spec: str, tagger_name: str, repeats: int, limit: int | None) -> dict:
    """Time every stage on one set with one tagger (in this process); returns jobs/s medians."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    jobs = load_jobs(data_dir, spec)[:limit]
    settings = FeatureSettings(pos_tagger=tagger_name)
    shared = get_tagger(tagger_name)  # loaded once, not timed

    def fresh_tagger():
        if tagger_name != "fast":
            return shared
        FastTagger._SHARED_MEMO = {}  # its memo is process-wide: start each run cold
        return FastTagger()

    cleaner = HtmlCleaner()
    cleaned = [cleaner.clean(j.title) + "\n" + cleaner.clean(j.description) for j in jobs]
    expanded = [expand_contractions(t) for t in cleaned]
    n_words = sum(len(t.split()) for t in cleaned)
    seconds: dict[str, list[float]] = {s: [] for s in STAGES}
    for _ in range(repeats):
        c = HtmlCleaner()
        seconds["clean"].append(
            _timed(lambda c=c: [(c.clean(j.title), c.clean(j.description)) for j in jobs])
        )
        seconds["stats"].append(_timed(lambda: [text_stats(t) for t in cleaned]))
        tagger = fresh_tagger()
        seconds["pos"].append(
            _timed(lambda tagger=tagger: tagger.count([expand_contractions(t) for t in cleaned]))
        )
        _WORD_IDS.clear()  # the word -> id memos are process-wide too
        f = Featurizer(settings)
        words = f.normalizer.words
        seconds["stem+hash"].append(
            _timed(lambda f=f, words=words: [f.word_ids([], words(t)) for t in cleaned])
        )
        _WORD_IDS.clear()
        f = Featurizer(settings, cache=MemoryFeatureCache())
        f.pos_tagger = fresh_tagger()
        seconds["end-to-end"].append(_timed(lambda f=f: f.transform(jobs)))
        seconds["cached"].append(_timed(lambda f=f: f.transform(jobs)))
    del expanded
    return {
        "set": spec,
        "tagger": tagger_name,
        "jobs": len(jobs),
        "words_per_job": n_words / max(len(jobs), 1),
        "jobs_per_s": {s: len(jobs) / statistics.median(v) for s, v in seconds.items()},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help=DATA_HELP)
    ap.add_argument("--sets", default=DEFAULT_SETS)
    ap.add_argument("--taggers", default="fast,spacy")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--spacy-jobs", type=int, default=300, help="jobs per set for spaCy (subset)")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--one", nargs=2, metavar=("SET", "TAGGER"), help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    data_dir = resolve_data_dir(args.data)
    if args.one:
        result = run_one(data_dir, args.one[0], args.one[1], args.repeats, args.limit)
        print(json.dumps(result))
        return 0
    results = []
    for spec in args.sets.split(","):
        for tagger in args.taggers.split(","):
            cmd = [sys.executable, __file__, "--one", spec, tagger, "--repeats", str(args.repeats)]
            cmd += ["--data", str(data_dir)]
            if tagger != "fast":
                cmd += ["--limit", str(args.spacy_jobs)]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{spec} {tagger}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
                return 1
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"jobs/s on one core, median of {args.repeats} runs (cold memos each run)\n")
    head = f"{'set':32s} {'tagger':6s} {'jobs':>5s} {'w/job':>6s} " + " ".join(
        f"{s:>10s}" for s in STAGES
    )
    print(head + f" {'peak RSS':>9s}")
    for r in results:
        cells = " ".join(f"{r['jobs_per_s'][s]:10,.0f}" for s in STAGES)
        print(
            f"{r['set']:32s} {r['tagger']:6s} {r['jobs']:5d} {r['words_per_job']:6.0f} {cells}"
            f" {r['peak_rss_mb']:7.0f}MB"
        )
    if any(r["tagger"] != "fast" for r in results):
        print(f"\n(spaCy rows: first {args.spacy_jobs} jobs of each set only)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
