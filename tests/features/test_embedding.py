"""Tests of jobtag.features.embedding and of the featurizer's accurate mode (features.embedder)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from jobtag.config import FeatureSettings
from jobtag.errors import ConfigError
from jobtag.features import embedding
from jobtag.features.batch import FeatureBatch
from jobtag.features.cache import MemoryFeatureCache
from jobtag.features.pipeline import Featurizer
from jobtag.records import make_job
from tests.helpers import FakeEmbedder, use_fake_embedder

JOBS = [
    make_job("Python developer", "<p>Build APIs in Python and Django.</p>", "j1"),
    make_job("Sales manager", "<p>Lead the sales team, meet customers.</p>", "j2"),
    make_job("Python engineer", "<p>Python services, Django, PostgreSQL.</p>", "j3"),
]


def test_none_is_no_embedder_and_unknown_names_are_config_errors():
    assert embedding.get_embedder("none") is None
    with pytest.raises(
        ConfigError, match="features.embedder must be one of none, minilm, minilm-static"
    ):
        embedding.get_embedder("bert")


def test_the_default_is_the_static_minilm_joint_and_none_has_no_embedding_columns():
    from jobtag.config import TrainSettings

    assert FeatureSettings().embedder == "minilm-static"
    assert TrainSettings().embedding_fit == "joint"
    batch = Featurizer(FeatureSettings(n_features=2**12, embedder="none")).transform(JOBS)
    assert batch.embedding.shape == (3, 0)


def test_featurizer_with_an_embedder_adds_its_vectors_and_caches_them(monkeypatch):
    use_fake_embedder(monkeypatch)
    settings = FeatureSettings(n_features=2**12, embedder="fake")
    cache = MemoryFeatureCache()
    f = Featurizer(settings, cache=cache)
    assert f.version != Featurizer(FeatureSettings(n_features=2**12, embedder="none")).version
    assert "fake" in f.version and len(f.version) <= 64
    first = f.transform(JOBS)
    d = FakeEmbedder.dim
    assert first.embedding.shape == (3, len(embedding.EMBEDDED_PARTS) * d)
    # [the cleaned title + description's vector ; the title's], each of unit length
    assert np.allclose(np.linalg.norm(first.embedding[:, :d], axis=1), 1.0)
    assert np.allclose(np.linalg.norm(first.embedding[:, d:], axis=1), 1.0)
    calls = embedding._LOADED["fake"].calls
    assert len(calls) == 2 and all("<p>" not in t for t in calls[0])
    assert calls[0][0] == "Python developer\nBuild APIs in Python and Django."
    assert calls[1] == ["Python developer", "Sales manager", "Python engineer"]
    assert not np.array_equal(first.embedding[0, d:], first.embedding[2, d:])
    again = Featurizer(settings, cache=cache).transform(JOBS)
    assert len(embedding._LOADED["fake"].calls) == 2  # all three came from the cache
    assert np.array_equal(again.embedding, first.embedding)
    # slicing and concatenation keep the embedding aligned with the jobs
    part = first[[2, 0]]
    assert np.array_equal(part.embedding, first.embedding[[2, 0]])
    both = FeatureBatch.concat([first[:1], first[1:]])
    assert np.array_equal(both.embedding, first.embedding)


def test_a_job_without_a_title_has_zeros_for_the_titles_vector(monkeypatch):
    use_fake_embedder(monkeypatch)
    f = Featurizer(FeatureSettings(n_features=2**12, embedder="fake"))
    batch = f.transform([make_job("", "<p>Only a description here.</p>", "j9")])
    d = FakeEmbedder.dim
    assert np.linalg.norm(batch.embedding[0, :d]) == pytest.approx(1.0)
    assert not batch.embedding[0, d:].any()
    assert "" not in embedding._LOADED["fake"].calls[-1]  # an empty title is not embedded


def test_batch_rejects_misaligned_embeddings():
    batch = Featurizer(FeatureSettings(n_features=2**12, embedder="none")).transform(JOBS)
    with pytest.raises(ValueError, match="2 embeddings for 3 jobs"):
        FeatureBatch(batch.bag, batch.numeric, batch.tokens, np.ones((2, 4), np.float32))


def test_minilm_without_its_packages_names_them_and_the_way_out(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "sentence_transformers" else real(name, *a),
    )
    with pytest.raises(ConfigError, match=r"sentence_transformers, which jobtag installs.*'none'"):
        embedding.MiniLMEmbedder().embed(["a job"])


@pytest.mark.slow
@pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in embedding.MINILM_PACKAGES),
    reason="the minilm extra is not installed",
)
def test_minilm_embeds_offline_and_similar_jobs_are_closer():
    vectors = embedding.MiniLMEmbedder().embed(
        ["Python developer building web APIs", "Backend engineer writing Python", "Sales manager"]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors.T
    assert sims[0, 1] > sims[0, 2] + 0.1


def test_a_cached_row_with_a_wrong_embedding_width_is_recomputed(monkeypatch, caplog):
    from jobtag.features.cache import encode_features

    use_fake_embedder(monkeypatch)
    settings = FeatureSettings(n_features=2**12, embedder="fake")
    cache = MemoryFeatureCache()
    f = Featurizer(settings, cache=cache)
    good = f.transform(JOBS[:1])
    bad = encode_features(good.numeric[0], good.bag.indices, np.ones(3, np.float32))
    cache.put_features({JOBS[0].content_hash: bad}, f.version)
    again = Featurizer(settings, cache=cache).transform(JOBS[:1])
    assert "embedding of width 3, expected 32" in caplog.text
    assert np.array_equal(again.embedding, good.embedding)


def test_without_embedder_keeps_the_rest_and_the_cache(monkeypatch):
    use_fake_embedder(monkeypatch)
    cache = MemoryFeatureCache()
    f = Featurizer(FeatureSettings(n_features=2**12, embedder="fake"), cache=cache)
    plain = f.without_embedder()
    assert plain.embedder is None and plain.cache is cache
    assert (
        plain.settings.n_features == 2**12
        and plain.version == Featurizer(FeatureSettings(n_features=2**12, embedder="none")).version
    )
    assert plain.transform(JOBS).embedding.shape == (3, 0)
    assert plain.without_embedder() is plain


class _Pieces:
    """A word-piece tokenizer of four pieces: [CLS]=0, [SEP]=1, python=2, sales=3."""

    vocab_size = 4
    all_special_ids = [0, 1]
    cls_token_id, sep_token_id = 0, 1
    ids = {"python": 2, "sales": 3}

    def __call__(self, texts, add_special_tokens, truncation=False, max_length=None):
        assert not add_special_tokens
        ids = [[self.ids[w] for w in t.split() if w in self.ids] for t in texts]
        return {"input_ids": [i[:max_length] if truncation else i for i in ids]}


class _FakeMiniLM:
    tokenizer = _Pieces()


TABLE = np.array(
    [[9, 9, *[0] * 382], [9, 9, *[0] * 382], [1, 0, *[0] * 382], [0, 1, *[0] * 382]], np.float32
)


def _static(monkeypatch, tmp_path, calls):
    monkeypatch.setattr(embedding, "load_minilm", lambda name: _FakeMiniLM())
    monkeypatch.setattr(embedding, "load_tokenizer", lambda name: _Pieces())

    def distill(model):
        calls.append(model)
        return TABLE.copy()

    monkeypatch.setattr(embedding, "distill_pieces", distill)
    return embedding.MiniLMStaticEmbedder(folder=tmp_path)


def test_static_pieces_are_distilled_once_kept_in_a_file_and_mean_pooled(monkeypatch, tmp_path):
    calls: list = []
    e = _static(monkeypatch, tmp_path, calls)
    v = e.embed(["python python sales", "sales", "nothing known here", ""])
    assert v.shape == (4, 384) and v.dtype == np.float32
    assert np.allclose(v[0, :2], np.array([2, 1]) / np.sqrt(5))  # the pieces' mean, unit length
    assert np.allclose(v[1, :2], [0, 1]) and not v[2].any() and not v[3].any()
    assert len(calls) == 1 and e.path.parent == tmp_path and e.path.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # written atomically
    again = _static(monkeypatch, tmp_path, calls).embed(["sales python"])
    assert len(calls) == 1 and np.allclose(again[0, :2], np.array([1, 1]) / np.sqrt(2))
    assert embedding.MiniLMStaticEmbedder().embed([]).shape == (0, 384)  # no model loaded


class _Counting(_Pieces):
    """The fake tokenizer, counting the texts it is given; "[CLS]" is one of its added tokens."""

    def __init__(self):
        self.seen: list[str] = []

    def get_added_vocab(self):
        return {"[CLS]": 0, "[SEP]": 1}

    def __call__(self, texts, add_special_tokens, truncation=False, max_length=None):
        self.seen += list(texts)
        return super().__call__(texts, add_special_tokens, truncation, max_length)


def test_word_pieces_are_looked_up_per_word_and_remembered(monkeypatch):
    tok = _Counting()
    pieces = embedding.WordPieces(tok, max_pieces=3)
    assert pieces.words("Python, SALES!\x0b\tok") == ["python", ",", "sales", "!", "ok"]
    assert pieces(["python sales python python", "sales"]) == [[2, 3, 2], [3]]  # truncated
    assert sorted(tok.seen) == ["python", "sales"]  # each word once, not the texts
    assert pieces(["Sales PYTHON"]) == [[3, 2]] and len(tok.seen) == 2  # from the memo
    assert pieces(["naïve python", "[CLS] python"]) == [[2], [2]]  # both to the tokenizer
    assert tok.seen[2:] == ["naïve python", "[CLS] python"]
    batch = ["python sales"] * 20  # a batch: word by word too, from the memo
    assert pieces(batch) == [[2, 3]] * len(batch) and len(tok.seen) == 4
    monkeypatch.setattr(embedding.WordPieces, "MAX_WORDS", 2)
    assert pieces(["new words"]) == [[]] and set(pieces.memo) == {"new", "words"}  # afresh


@pytest.mark.parametrize("damage", [b"not a numpy file", "wrong shape", "nan"])
def test_a_corrupt_static_vectors_file_is_distilled_again(monkeypatch, tmp_path, caplog, damage):
    calls: list = []
    e = _static(monkeypatch, tmp_path, calls)
    if damage == "wrong shape":
        np.save(e.path, np.ones((3, 384), np.float32))
    elif damage == "nan":
        np.save(e.path, np.full((4, 384), np.nan, np.float32))
    else:
        e.path.write_bytes(damage)
    v = e.embed(["python"])
    assert len(calls) == 1 and "distilling again" in caplog.text
    assert np.allclose(v[0, :2], [1, 0]) and np.array_equal(np.load(e.path), TABLE)


def test_the_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    from jobtag.config import default_cache_dir

    assert default_cache_dir({"JOBTAG_CACHE_DIR": str(tmp_path)}) == tmp_path
    assert default_cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "jobtag"
    assert default_cache_dir({}).parts[-2:] == (".cache", "jobtag")
    monkeypatch.setenv("JOBTAG_CACHE_DIR", str(tmp_path / "c"))
    assert embedding.MiniLMStaticEmbedder().path.parent == tmp_path / "c"


def test_static_and_contextual_minilm_features_are_cached_apart():
    static = Featurizer(FeatureSettings(n_features=2**12, embedder="minilm-static"))
    minilm = Featurizer(FeatureSettings(n_features=2**12, embedder="minilm"))
    assert static.version != minilm.version and len(static.version) <= 64
    assert static.embedding_width == minilm.embedding_width == 2 * 384


@pytest.mark.slow
@pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in embedding.MINILM_PACKAGES),
    reason="the minilm extra is not installed",
)
def test_minilm_static_distills_offline_and_similar_jobs_are_closer():
    vectors = embedding.get_embedder("minilm-static").embed(
        ["Python developer building web APIs", "Backend engineer writing Python", "Sales manager"]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors.T
    assert sims[0, 1] > sims[0, 2] + 0.1


@pytest.mark.slow
@pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in embedding.MINILM_PACKAGES),
    reason="the minilm extra is not installed",
)
def test_word_pieces_match_the_tokenizer_on_awkward_text():
    tok = embedding.load_tokenizer("minilm-static")
    pieces = embedding.WordPieces(tok, max_pieces=512)
    texts = [
        "Senior C++/C# Engineer (m/f/d) - $100k, e-mail: a_b@x.io; 50% remote!",
        "x\x0by\x0cz\x1c w\x7fq\u2028r\x85s\ttab\r\nnew",
        "naïve café – “quotes” İstanbul Straße ﬁ 中文字符 and 日本語 😀 ＦＵＬＬ　ｗｉｄｔｈ",
        "[UNK] [CLS] hello [SEP]",
        "A" * 300,
        "word, " * 600,
        "",
    ]
    want = tok(texts, add_special_tokens=False, truncation=True, max_length=512)["input_ids"]
    assert pieces(texts) == [list(w) for w in want]  # new words: the backend's joined pass
    assert pieces(texts) == [list(w) for w in want]  # again, from the memo
    assert pieces(texts * 2) == [list(w) for w in want] * 2
    # the static embedding is the mean of those pieces' vectors (special ones left out)
    e = embedding.get_embedder("minilm-static")
    table, special = e._load()[1], set(tok.all_special_ids)
    got = e.embed(texts)
    for ids, vector in zip(want, got, strict=True):
        kept = [t for t in ids if t not in special]
        mean = table[kept].mean(0) if kept else np.zeros(384, np.float32)
        assert np.allclose(vector, mean / max(np.linalg.norm(mean), 1e-8), atol=1e-6)
