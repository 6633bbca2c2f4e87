"""Tests of jobtag.features.clean: HTML to text, contractions, tokens."""

from __future__ import annotations

import pytest

from jobtag.features.clean import MAX_CHARS, HtmlCleaner, TextNormalizer, expand_contractions


@pytest.fixture(scope="module")
def cleaner() -> HtmlCleaner:
    return HtmlCleaner()


@pytest.fixture(scope="module")
def normalizer() -> TextNormalizer:
    return TextNormalizer()


def test_plain_text_passes_through(cleaner):
    assert (
        cleaner.clean("Senior  Python\tDeveloper\r\n\n  in Cairo ")
        == "Senior Python Developer\nin Cairo"
    )


def test_html_blocks_make_word_boundaries(cleaner):
    html = "<div><h2>Responsibilities</h2><ul><li>DLP admin</li><li>Reports</li></ul><p>End<br>here</p></div>"
    assert cleaner.clean(html) == "Responsibilities\nDLP admin\nReports\nEnd\nhere"


def test_escaped_html_is_unescaped_once_more(cleaner):
    escaped = "&lt;p&gt;Tom &amp;amp; Jerry&lt;/p&gt;&lt;ul&gt;&lt;li&gt;Java&lt;/li&gt;&lt;li&gt;SQL&lt;/li&gt;&lt;/ul&gt;"
    assert cleaner.clean(escaped) == "Tom & Jerry\nJava\nSQL"
    assert cleaner.clean("&amp;lt;p&amp;gt;twice&amp;lt;/p&amp;gt;") == "twice"


def test_scripts_styles_and_entities(cleaner):
    html = "<style>.a{color:red}</style><script>var x = 1;</script><p>R&amp;D &nbsp;caf&eacute; &#8594; ok</p>"
    assert cleaner.clean(html) == "R&D café ok"


def test_arrows_and_bullets_become_spaces(cleaner):
    assert (
        cleaner.clean("Apply \u2192 now \u2022 fast \u21d2 done \u2190 back")
        == "Apply now fast done back"
    )


def test_broken_html_does_not_crash(cleaner):
    assert cleaner.clean("<p>broken <b>bold <li>item</div></span><") == "broken bold\nitem\n<"
    assert cleaner.clean("<<<>>> <p") in ("<<<>>>", "<<<>>> <p", "<<<>>>\n<p")


def test_comparison_signs_are_not_markup(cleaner):
    assert cleaner.clean("salary < 5000 and > 3000") == "salary < 5000 and > 3000"


def test_glued_words_are_split(cleaner):
    text = "ResponsibilitiesDLP solution administrationAnalyze incidents negative.Work closely"
    assert (
        cleaner.clean(text)
        == "Responsibilities DLP solution administration Analyze incidents negative. Work closely"
    )
    assert cleaner.clean("iPhone and U.S.A. stay") == "iPhone and U.S.A. stay"
    assert HtmlCleaner(split_glued=False).clean("workEmployee") == "workEmployee"


def test_empty_and_none(cleaner):
    assert cleaner.clean("") == ""
    assert cleaner.clean(None) == ""
    assert cleaner.transform(["", "<p></p>"]) == ["", ""]


def test_huge_text_is_cut(cleaner):
    text = "<p>" + "word " * 2_000_000 + "</p>"  # 10 MB
    out = cleaner.clean(text)
    assert 0 < len(out) <= MAX_CHARS


def test_deeply_nested_html_is_cut_to_max_tags():
    cleaner = HtmlCleaner(max_tags=50)
    assert cleaner.clean("<div>" * 100 + "hidden") == ""
    assert cleaner.clean("<p>a</p>" * 10) == "\n".join("a" * 10)
    assert HtmlCleaner(max_tags=3).clean("<p>a</p><p>b</p><p>c</p>") == "a"


def test_contractions_without_slang():
    assert (
        expand_contractions("We're hiring in the U.S. and don't wait")
        == "We are hiring in the U.S. and do not wait"
    )
    assert expand_contractions("It\u2019s fine") == "It is fine"
    assert expand_contractions("no apostrophe here") == "no apostrophe here"


def test_tokens_lowercase_stem_and_drop_noise(normalizer):
    tokens = normalizer.tokens(
        "We're hiring 3 Senior ENGINEERS, don't wait! John's running (C#) 2024."
    )
    assert tokens == ["hire", "senior", "engin", "wait", "john", "run", "c"]


def test_stop_words_and_digits_dropped(normalizer):
    assert normalizer.tokens("the and of 12345 , . ;") == []
    assert normalizer.stem("the") is None
    assert normalizer.stem("running") == "run"
