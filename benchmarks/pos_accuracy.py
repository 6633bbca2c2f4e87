"""POS tagger benchmark: 5-class accuracy on UD English-EWT (gold tokens) and words/s, per tagger.

    python benchmarks/pos_accuracy.py [--data DIR] [--taggers fast,spacy,textblob] [--repeats 3]

Accuracy: share of the EWT test tokens whose class (noun, pronoun, verb, adjective, adverb or
other) matches the class of the gold XPOS (Penn) tag, with the mapping of jobtag.features.pos;
the UPOS column maps the gold UPOS instead (NOUN/PROPN, PRON, VERB/AUX, ADJ, ADV). Speed: words/s
tagging the gold-tokenized sentences on one core, median of `--repeats` runs; the fast tagger is
rebuilt before each run so its memo starts cold (lexicon loading is not timed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import DATA_HELP, resolve_data_dir  # noqa: E402

from jobtag.features.pos import FastTagger, get_tagger  # noqa: E402
from jobtag.features.pos_eval import pos_accuracy, read_conllu  # noqa: E402

PEER_NOTE = {"fast": "default", "spacy": "en_core_web_sm 3.8", "textblob": "PatternTagger (peer)"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help=DATA_HELP)
    ap.add_argument("--taggers", default="fast,spacy,textblob")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    path = resolve_data_dir(args.data) / "ud-english-ewt" / "en_ewt-ud-test.conllu.gz"
    sentences = read_conllu(path)
    print(
        f"UD English-EWT test: {len(sentences)} sentences, {sum(len(s.words) for s in sentences)} tokens; one core"
    )
    print(f"{'tagger':10s} {'acc (XPOS)':>10s} {'acc (UPOS)':>10s} {'words/s':>12s}  note")
    for name in args.taggers.split(","):
        runs = []
        for _ in range(args.repeats):
            tagger = FastTagger() if name == "fast" else get_tagger(name)
            runs.append(pos_accuracy(tagger, sentences))
        acc = runs[0]
        speed = statistics.median(r.words_per_s for r in runs)
        print(
            f"{name:10s} {acc.accuracy:10.4f} {acc.upos_accuracy:10.4f} {speed:12,.0f}  {PEER_NOTE.get(name, '')}"
        )
    return 0


if __name__ == "__main__":
    t0 = time.perf_counter()
    rc = main()
    print(f"({time.perf_counter() - t0:.1f} s)")
    sys.exit(rc)
