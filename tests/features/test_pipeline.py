"""Tests of jobtag.features.pipeline.Featurizer: output contract, cache, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from jobtag.config import FeatureSettings
from jobtag.errors import ConfigError
from jobtag.features.batch import NUMERIC_NAMES, FeatureBatch
from jobtag.features.cache import MemoryFeatureCache, encode_features
from jobtag.features.pipeline import Featurizer
from jobtag.records import Job

JOBS = [
    Job(
        "1",
        "Senior Python Developer",
        "<p>We're hiring a <b>Python</b> developer.</p><ul><li>Django</li><li>SQL</li></ul>",
    ),
    Job("2", "Data Analyst", "&lt;p&gt;Analyze data &amp;amp; report weekly.&lt;/p&gt;"),
    Job("3", "", ""),
    Job("4", "QA Engineer", "Test, test and TEST again. Python scripts are a plus."),
]


@pytest.fixture(scope="module")
def featurizer() -> Featurizer:
    return Featurizer(
        FeatureSettings(n_features=2**12, max_tokens=5, batch_size=3, embedder="none")
    )


def test_output_contract(featurizer):
    batch = featurizer.transform(JOBS)
    assert isinstance(batch, FeatureBatch) and len(batch) == 4
    assert sp.isspmatrix_csr(batch.bag) and batch.bag.dtype == np.float32
    assert batch.bag.shape == (4, 2**12)
    assert batch.numeric.shape == (4, len(NUMERIC_NAMES)) and batch.numeric.dtype == np.float32
    assert all(
        t.dtype == np.int32 and 1 <= len(t) <= 5 for i, t in enumerate(batch.tokens) if i != 2
    )
    assert len(batch.tokens[2]) == 0 and batch.bag[2].nnz == 0 and not batch.numeric[2].any()
    assert batch.bag[:, 0].nnz == 0
    for t in batch.tokens:
        assert t.size == 0 or (t.min() >= 1 and t.max() < 2**12)


def test_bag_counts_all_tokens_title_first(featurizer):
    job = JOBS[3]
    tokens = featurizer.tokenize(job)
    assert tokens[:2] == ["t:qa", "t:engin"]
    assert tokens.count("test") == 3
    batch = featurizer.transform([job])
    assert batch.bag.sum() == len(tokens)  # all tokens, not only the first max_tokens
    ids = [featurizer.hasher.id(t) for t in tokens]
    assert batch.tokens[0].tolist() == ids[:5]
    assert batch.bag[0, featurizer.hasher.id("test")] == 3


def test_numeric_block_values(featurizer):
    row = dict(zip(NUMERIC_NAMES, featurizer.transform([JOBS[3]]).numeric[0], strict=True))
    assert row["word_count"] == 12  # "QA Engineer" + 10 description words
    assert row["upper_case_word_count"] == 2  # "QA" and "TEST"
    assert row["stop_word_count"] == 4  # and, again, are, a
    assert row["noun_count"] >= 3 and row["verb_count"] >= 1


def test_iter_transform_streams_batches(featurizer):
    sizes = [len(b) for b in featurizer.iter_transform(iter(JOBS), batch_size=3)]
    assert sizes == [3, 1]
    whole = featurizer.transform(JOBS)
    joined = FeatureBatch.concat(list(featurizer.iter_transform(JOBS, batch_size=1)))
    assert (whole.bag != joined.bag).nnz == 0
    assert np.array_equal(whole.numeric, joined.numeric)


def test_empty_input(featurizer):
    batch = featurizer.transform([])
    assert len(batch) == 0 and batch.numeric.shape == (0, len(NUMERIC_NAMES))


def test_huge_and_broken_inputs(featurizer):
    huge = Job("h", "T" * 100, "<div>" + "word " * 2_000_000 + "<p><b><li>")
    broken = Job("b", "<<>>", "</div></p><script>never closed")
    batch = featurizer.transform([huge, broken])
    assert batch.numeric[0, 0] < 250_000  # text past MAX_CHARS is cut
    assert len(batch.tokens[0]) == 5


def test_cache_hit_gives_identical_features_without_tagger(monkeypatch):
    cache = MemoryFeatureCache()
    first = Featurizer(FeatureSettings(n_features=2**12, embedder="none"), cache=cache).transform(
        JOBS
    )
    assert len(cache) == 4 and cache.misses == 4
    fresh = Featurizer(FeatureSettings(n_features=2**12, embedder="none"), cache=cache)

    def boom(*args, **kwargs):
        raise AssertionError("tagger must not run on a cache hit")

    monkeypatch.setattr(fresh.pos_tagger, "count", boom)
    second = fresh.transform(JOBS)
    assert cache.hits == 4
    assert (first.bag != second.bag).nnz == 0
    assert np.array_equal(first.numeric, second.numeric)
    assert all(np.array_equal(a, b) for a, b in zip(first.tokens, second.tokens, strict=True))


def test_corrupt_cache_entry_is_recomputed():
    cache = MemoryFeatureCache()
    featurizer = Featurizer(FeatureSettings(n_features=2**12, embedder="none"), cache=cache)
    cache.put_features({JOBS[0].content_hash: b"garbage"}, featurizer.version)
    batch = featurizer.transform(JOBS[:1])
    assert batch.bag.sum() > 0
    cache.put_features(
        {JOBS[0].content_hash: encode_features(np.zeros(11), np.array([2**12 + 5]))},
        featurizer.version,
    )
    with pytest.raises(ConfigError, match="outside"):
        featurizer.transform(JOBS[:1])


def test_version_depends_on_settings():
    a = Featurizer(FeatureSettings(embedder="none")).version
    assert len(a) <= 64 and a != Featurizer().version  # the default adds the static vectors
    assert a != Featurizer(FeatureSettings(pos_tagger="textblob", embedder="none")).version
    assert a == Featurizer(FeatureSettings(max_tokens=10, embedder="none")).version
    assert a != Featurizer(FeatureSettings(n_features=2**10, embedder="none")).version


def test_bad_settings():
    with pytest.raises(ConfigError, match="unknown POS tagger"):
        Featurizer(FeatureSettings(pos_tagger="nope", embedder="none"))
    with pytest.raises(ConfigError, match="max_tokens"):
        Featurizer(FeatureSettings(max_tokens=0, embedder="none"))


def test_escaped_html_gives_the_same_features_as_plain_text(featurizer):
    plain = Job("p", "Network Engineer", "We're hiring. Configure firewalls & VPNs. Report weekly.")
    markup = "<div><p>We&#x27;re hiring.</p><p>Configure firewalls &amp; VPNs.</p><p>Report weekly.</p></div>"
    escaped = Job(
        "e",
        "Network Engineer",
        markup.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
    )
    a, b = featurizer.transform([plain]), featurizer.transform([escaped])
    assert (a.bag != b.bag).nnz == 0
    assert np.array_equal(a.numeric, b.numeric)


def test_featurizers_of_one_width_share_the_word_ids_memo():
    jobs = [Job("m1", "Data engineer", "Build pipelines in Python daily")]
    a = Featurizer(FeatureSettings(n_features=2**12, embedder="none"))
    first = a.transform(jobs)
    b = Featurizer(FeatureSettings(n_features=2**12, embedder="none"))
    assert b._desc_memo is a._desc_memo and "pipelines" in b._desc_memo  # warm
    assert "data" in b._title_memo and b._title_memo is not b._desc_memo
    other = Featurizer(FeatureSettings(n_features=2**13, embedder="none"))
    assert other._desc_memo is not a._desc_memo  # other width, other ids
    b.normalizer.memo_size = 1  # full: b starts a fresh memo, for featurizers made after it
    again = b.transform([Job("m2", "Data engineer", "zyxw pipelines")])
    assert "zyxw" in b._desc_memo and "zyxw" not in a._desc_memo and len(b._desc_memo) <= 2
    assert Featurizer(FeatureSettings(n_features=2**12, embedder="none"))._desc_memo is b._desc_memo
    assert set(again.bag.indices) & set(first.bag.indices)  # "data engineer", "pipelines": same ids
