"""5-class POS accuracy of a tagger on gold CoNLL-U data (e.g. UD English-EWT)."""

from __future__ import annotations

import gzip
import time
from dataclasses import dataclass
from pathlib import Path

from jobtag.errors import InputError
from jobtag.features.pos import ADJ, ADV, NOUN, OTHER, PRON, VERB, PosTagger, penn_class

# Secondary view: Universal POS gold mapped to the same classes (PRON also covers demonstratives
# and indefinites such as "this"/"something", which Penn tags DT/NN, so taggers emitting Penn tags
# score lower here by construction).
UPOS_CLASS: dict[str, int] = {
    "NOUN": NOUN,
    "PROPN": NOUN,
    "PRON": PRON,
    "VERB": VERB,
    "AUX": VERB,
    "ADJ": ADJ,
    "ADV": ADV,
}


@dataclass(frozen=True)
class Sentence:
    """Gold tokens of one sentence with their XPOS (Penn) and UPOS tags."""

    words: tuple[str, ...]
    xpos: tuple[str, ...]
    upos: tuple[str, ...]


def read_conllu(path: str | Path) -> list[Sentence]:
    """Sentences of a CoNLL-U file (.conllu or .conllu.gz); multiword/empty nodes are skipped."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    sentences: list[Sentence] = []
    rows: list[tuple[str, str, str]] = []
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.rstrip("\n")
                if not line:
                    if rows:
                        sentences.append(Sentence(*map(tuple, zip(*rows, strict=True))))
                        rows = []
                    continue
                if line.startswith("#"):
                    continue
                cols = line.split("\t")
                if len(cols) != 10:
                    raise InputError(
                        f"{path}:{lineno}: expected 10 tab-separated columns, got {len(cols)}"
                    )
                if "-" in cols[0] or "." in cols[0]:
                    continue
                rows.append((cols[1], cols[4], cols[3]))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    if rows:
        sentences.append(Sentence(*map(tuple, zip(*rows, strict=True))))
    return sentences


@dataclass(frozen=True)
class Accuracy:
    """Result of `pos_accuracy`: share of tokens whose class matches the gold XPOS class
    (`accuracy`, the headline figure) and the gold UPOS class (`upos_accuracy`)."""

    tagger: str
    tokens: int
    accuracy: float
    upos_accuracy: float
    seconds: float

    @property
    def words_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else float("inf")


def pos_accuracy(tagger: PosTagger, sentences: list[Sentence]) -> Accuracy:
    """Tag each sentence on its gold tokenization; compare 5-class (+ other) with gold XPOS."""
    correct = correct_upos = total = 0
    start = time.perf_counter()
    predicted = tagger.tag_sentences([s.words for s in sentences])
    seconds = time.perf_counter() - start
    for s, classes in zip(sentences, predicted, strict=True):
        total += len(classes)
        correct += sum(p == penn_class(g) for p, g in zip(classes, s.xpos, strict=True))
        correct_upos += sum(
            p == UPOS_CLASS.get(g, OTHER) for p, g in zip(classes, s.upos, strict=True)
        )
    if not total:
        return Accuracy(tagger.name, 0, 0.0, 0.0, seconds)
    return Accuracy(tagger.name, total, correct / total, correct_upos / total, seconds)
