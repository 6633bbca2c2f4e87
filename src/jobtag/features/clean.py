"""Cleaning: HTML (also escaped once more) to plain text, then to stemmed, stop-word-free tokens."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterable

import contractions
import Stemmer
from selectolax.lexbor import LexborHTMLParser
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

log = logging.getLogger(__name__)

# Longest text (in characters) considered per field. Job ads are 2-10k characters; anything past
# this is a paste accident or an attack, and is cut (logged) before parsing so cost stays bounded.
MAX_CHARS = 200_000
# Most tags parsed per field: the HTML parser is super-linear on deeply nested markup (40k nested
# <div>s take seconds), real ads have a few hundred tags; markup past this many is cut.
MAX_TAGS = 10_000

# scikit-learn's English stop-word list (318 words), used by cleaning and by the text statistics.
STOP_WORDS: frozenset[str] = frozenset(ENGLISH_STOP_WORDS)

_TAG_RE = re.compile(r"<\s*/?\s*[A-Za-z!]")
_ESCAPED_TAG_RE = re.compile(r"&(?:amp;)*lt;\s*/?\s*[A-Za-z!]", re.IGNORECASE)
# Block-level tags: a line break is inserted before them so that "<li>a</li><li>b</li>" is "a\nb".
_BLOCK_RE = re.compile(
    r"<(?=\s*/?\s*(?:p|div|li|ul|ol|br|hr|h[1-6]|tr|td|th|table|section|article|header|footer"
    r"|blockquote|pre|dd|dt|dl|nav|aside|main|form|option|title)\b)",
    re.IGNORECASE,
)
_STRIP_TAGS = ["script", "style", "noscript", "template", "head", "svg", "iframe", "object"]
# Arrows, bullets, box/geometric shapes, dingbats, no-break/zero-width spaces: become spaces.
_SYMBOL_RE = re.compile(
    "[\u00b7\u2000-\u200b\u2022-\u2027\u2190-\u21ff\u2500-\u27bf\u2b00-\u2bff\ufeff\ufffd]"
)
# Words glued by a crawl that dropped block boundaries: "ResponsibilitiesDLP", "negative.Work".
_GLUE_RE = re.compile(r"(?<=[a-z][a-z.!?:;,)])(?=[A-Z])")
_POSSESSIVE_RE = re.compile(r"'s\b")
# Letters only (any script): digits, punctuation and underscores never make a token.
_WORD_RE = re.compile(r"[^\W\d_]+")


def _unescape_markup(text: str) -> str:
    """Undo extra HTML escaping ("&lt;p&gt;", "&amp;lt;p&amp;gt;") so the markup can be parsed."""
    for _ in range(3):
        if not _ESCAPED_TAG_RE.search(text):
            break
        text = html.unescape(text)
    return text


class HtmlCleaner:
    """HTML (or plain text) to readable plain text: markup, scripts/styles, entities, symbols gone.

    Block elements (p, li, br, div, h1...) become line breaks so list items do not glue together;
    with `split_glued`, lowerUpper and "word.Word" run-ons left by crawls get a space too.
    Stateless: `fit`/`partial_fit` exist for the common stage contract and do nothing.
    """

    def __init__(
        self, max_chars: int = MAX_CHARS, split_glued: bool = True, max_tags: int = MAX_TAGS
    ) -> None:
        self.max_chars = max_chars
        self.split_glued = split_glued
        self.max_tags = max_tags

    def transform(self, texts: Iterable[str]) -> list[str]:
        return [self.clean(t) for t in texts]

    def clean(self, text: str | None) -> str:
        """One field's plain text: single spaces inside lines, one newline between blocks."""
        if not text:
            return ""
        if len(text) > self.max_chars:
            log.warning("text of %d chars cut to %d chars", len(text), self.max_chars)
            text = text[: self.max_chars]
        if "&" in text:
            text = _unescape_markup(text)
        if "<" in text and _TAG_RE.search(text):
            text = self._strip_html(self._cut_tags(text))
        elif "&" in text:
            text = html.unescape(text)
        text = _SYMBOL_RE.sub(" ", text)
        if self.split_glued:
            text = _GLUE_RE.sub(" ", text)
        # One space between words (str.split knows all Unicode spaces), one newline between lines.
        return "\n".join(filter(None, (" ".join(line.split()) for line in text.split("\n"))))

    def _cut_tags(self, text: str) -> str:
        """`text` up to its `max_tags`-th "<" (logged), so parsing time stays bounded."""
        if text.count("<") <= self.max_tags:
            return text
        pos = -1
        for _ in range(self.max_tags):
            pos = text.find("<", pos + 1)
        log.warning("HTML with %d tags cut to %d tags", text.count("<"), self.max_tags)
        return text[:pos]

    @staticmethod
    def _strip_html(text: str) -> str:
        tree = LexborHTMLParser(_BLOCK_RE.sub("\n<", text))
        tree.strip_tags(_STRIP_TAGS)
        root = tree.body if tree.body is not None else tree.root
        return root.text(separator="") if root is not None else ""


def expand_contractions(text: str) -> str:
    """Expand contractions ("don't" -> "do not") without slang rewriting; "U.S." stays "U.S.".

    Curly apostrophes are normalized first; `contractions.fix` only runs when an apostrophe is
    present (most job text has none, and it is the costly part).
    """
    if "\u2019" in text or "\u2018" in text:
        text = text.replace("\u2019", "'").replace("\u2018", "'")
    if "'" not in text:
        return text
    return contractions.fix(text, slang=False)


class TextNormalizer:
    """Plain text to tokens: contractions expanded, lowercased, letters only, stop words dropped,
    Snowball (Porter2) English stems via PyStemmer. A bounded memo maps word -> stem."""

    def __init__(self, stop_words: frozenset[str] = STOP_WORDS, memo_size: int = 500_000) -> None:
        self.stop_words = stop_words
        self.memo_size = memo_size
        self._stemmer = Stemmer.Stemmer("english")
        self._memo: dict[str, str | None] = {}

    def transform(self, texts: Iterable[str]) -> list[list[str]]:
        return [self.tokens(t) for t in texts]

    def words(self, text: str) -> list[str]:
        """Lowercased letter-only words after contraction expansion (stop words still in)."""
        return self.split_words(expand_contractions(text))

    @staticmethod
    def split_words(text: str) -> list[str]:
        """Lowercased letter-only words of an already contraction-expanded text; "'s" dropped."""
        if "'" in text:
            text = _POSSESSIVE_RE.sub("", text)
        return _WORD_RE.findall(text.lower())

    def stem(self, word: str) -> str | None:
        """The stem of a lowercased word, or None for a stop word."""
        stem = self._memo.get(word, "")
        if stem == "":
            if len(self._memo) >= self.memo_size:
                self._memo.clear()
            stem = None if word in self.stop_words else self._stemmer.stemWord(word)
            self._memo[word] = stem
        return stem

    def tokens(self, text: str) -> list[str]:
        """Stemmed tokens of `text` in reading order."""
        stem = self.stem
        return [s for s in map(stem, self.words(text)) if s]
