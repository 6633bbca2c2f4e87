"""Tests of jobtag.features.pos: class mapping, the fast tagger, the registry."""

from __future__ import annotations

import numpy as np
import pytest

from jobtag.errors import ConfigError
from jobtag.features.pos import (
    ADJ,
    ADV,
    NOUN,
    OTHER,
    PRON,
    VERB,
    class_counts,
    get_tagger,
    penn_class,
)


@pytest.mark.parametrize(
    ("tag", "cls"),
    [("NNPS", NOUN), ("PRP$", PRON), ("WP", PRON), ("MD", VERB), ("VBZ", VERB), ("JJS", ADJ),
     ("WRB", ADV), ("RBR", ADV), ("DT", OTHER), ("IN", OTHER), (".", OTHER)],
)  # fmt: skip
def test_penn_class(tag, cls):
    assert penn_class(tag) == cls


def test_fast_tagger_small_sentence():
    tagger = get_tagger("fast")
    tokens = ["We", "need", "a", "very", "good", "engineer", "who", "will", "work", "quickly", "."]
    assert tagger.tag_classes(tokens) == [
        PRON,
        VERB,
        OTHER,
        ADV,
        ADJ,
        NOUN,
        PRON,
        VERB,
        VERB,
        ADV,
        OTHER,
    ]


def test_fast_tagger_context_rules():
    tagger = get_tagger("fast")
    # "report" is a noun in the lexicon; after "to" it is a verb. "use" after "the" is a noun.
    assert tagger.tag_classes(["to", "report"])[1] == VERB
    assert tagger.tag_classes(["the", "use"])[1] == NOUN
    assert tagger.tag_classes(["it", "'s", "great"])[1] == VERB
    assert tagger.tag_classes(["John", "'s", "car"])[1] == OTHER


def test_fast_tagger_unknown_words():
    tagger = get_tagger("fast")
    classes = tagger.tag_classes(["Zorblax", "flurbishly", "grommable", "14.5", "--", "me@x.org"])
    assert classes == [NOUN, ADV, ADJ, OTHER, OTHER, OTHER]


def test_count_on_text():
    counts = get_tagger("fast").count(["We need a very good engineer.", ""])
    assert counts.shape == (2, 5) and counts.dtype == np.float32
    assert counts[0].tolist() == [1, 1, 1, 1, 1]
    assert counts[1].tolist() == [0, 0, 0, 0, 0]


def test_class_counts():
    assert class_counts([NOUN, NOUN, VERB, OTHER, ADV]).tolist() == [2, 0, 1, 0, 1]


def test_unknown_tagger_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown POS tagger 'nope'"):
        get_tagger("nope")


def test_fast_taggers_share_one_lexicon_and_one_memo_of_pure_codes():
    a, b = get_tagger("fast"), get_tagger("fast")
    assert a is not b and a._memo is b._memo  # token -> code: the same for every tagger
    assert a._lexicon is b._lexicon  # the read-only lexicon is loaded once
    a.count(["She quickly wrote the report"])
    assert "quickly" in b._memo  # warm for the other one
    small = type(a)(memo_size=1)  # a full memo starts afresh, for every tagger after it
    counts = small.count(["She wrote the zyxwvut report"]).tolist()
    assert len(type(a)._SHARED_MEMO) <= 5 and "zyxwvut" in type(a)._SHARED_MEMO
    assert counts == a.count(["She wrote the zyxwvut report"]).tolist()
    with pytest.raises(TypeError):
        a._lexicon["new"] = "NN"  # type: ignore[index]


@pytest.mark.slow
def test_spacy_tagger_counts():
    tagger = get_tagger("spacy")
    assert tagger.tag_classes(["We", "need", "a", "very", "good", "engineer", "."]) == [
        PRON,
        VERB,
        OTHER,
        ADV,
        ADJ,
        NOUN,
        OTHER,
    ]
    assert tagger.count(["We need a very good engineer."])[0].tolist() == [1, 1, 1, 1, 1]
