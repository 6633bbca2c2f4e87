"""Tests of jobtag.features.textstats on a hand-computed example."""

from __future__ import annotations

import pytest

from jobtag.features.textstats import STAT_NAMES, text_stats


def test_hand_computed_example():
    text = "We need a SQL expert, NOW!"
    # chars 26; words 6; density 26/6; punctuation "," "!" = 2; upper: SQL, NOW! = 2;
    # stop words: we, a = 2 ("need" and "now" are... "now" is a stop word in the list too).
    stats = dict(zip(STAT_NAMES, text_stats(text), strict=True))
    assert stats["char_count"] == 26
    assert stats["word_count"] == 6
    assert stats["word_density"] == pytest.approx(26 / 6)
    assert stats["punctuation_count"] == 2
    assert stats["upper_case_word_count"] == 2
    assert stats["stop_word_count"] == 3  # we, a, now


def test_empty_text():
    assert text_stats("") == (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def test_given_lower_words_are_used_for_stop_words():
    assert text_stats("ignored", lower_words=["the", "cat", "and"])[5] == 2
