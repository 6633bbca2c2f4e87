"""Text statistics of a job's plain text (after HTML cleaning, before lowercasing)."""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

from jobtag.features.batch import NUMERIC_NAMES
from jobtag.features.clean import STOP_WORDS

STAT_NAMES: tuple[str, ...] = NUMERIC_NAMES[:6]  # the text statistics, in FeatureBatch order

_PUNCT_RE = re.compile("[" + re.escape(string.punctuation) + "]")
_LOWER_WORD_RE = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def text_stats(
    text: str, stop_words: frozenset[str] = STOP_WORDS, lower_words: Sequence[str] | None = None
) -> tuple[float, ...]:
    """The six statistics of one text, in `STAT_NAMES` order.

    char_count: characters; word_count: whitespace-separated words; word_density:
    char_count / word_count (0 without words); punctuation_count: ASCII punctuation characters;
    upper_case_word_count: words whose letters are all upper case ("DLP", "IT", "C++");
    stop_word_count: letter words (apostrophes kept, so "don't" is one) in the stop-word list,
    or, when the caller already has them, the given lowercased words (`lower_words`).
    """
    if lower_words is None:
        lower_words = _LOWER_WORD_RE.findall(text.lower())
    words = text.split()
    n_chars = len(text)
    n_words = len(words)
    return (
        float(n_chars),
        float(n_words),
        n_chars / n_words if n_words else 0.0,
        float(len(_PUNCT_RE.findall(text))),
        float(sum(map(str.isupper, words))),
        float(sum(map(stop_words.__contains__, lower_words))),
    )
