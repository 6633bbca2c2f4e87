"""TagNames: a tag's name words found in a job's bag, as the featurizer hashes them; the fade."""

from __future__ import annotations

import numpy as np
import pytest

from jobtag.config import FeatureSettings
from jobtag.features.pipeline import Featurizer
from jobtag.models.names import ANY, SEMANTIC, TITLE, TagNames, shrink
from jobtag.records import make_job

FS = FeatureSettings(n_features=2**12, embedder="none")
TAGS = ["Customer Service", "IT/Software Development", "Sales", "The"]


def _bags(*jobs: tuple[str, str]):
    return Featurizer(FS).transform([make_job(t, d, f"j{i}") for i, (t, d) in enumerate(jobs)]).bag


def test_name_words_are_matched_as_the_featurizer_tokenizes_them():
    bag = _bags(
        ("Support agent", "You will give great customer services by phone."),  # stems match
        ("Customer service lead", "Lead a team."),  # in the title
        ("Engineer", "Build <b>software</b> for banks."),  # one of two name stems
        ("Accountant", "Ledgers and audits."),  # nothing
    )
    m = TagNames(TAGS, FS.n_features).matches(bag)
    assert m.shape == (4, 3, 4) and m.dtype == np.float32
    assert not m[:, SEMANTIC].any()  # no embedder: no meaning
    np.testing.assert_allclose(m[:, ANY, 0], [1, 1, 0, 0])
    np.testing.assert_allclose(m[:, TITLE, 0], [0, 1, 0, 0])
    np.testing.assert_allclose(m[:, ANY, 1], [0, 0, 0.5, 0])  # "IT" is a stop word: 2 stems
    assert not m[:, :, 2].any()  # nobody says "sales"
    assert not m[:, :, 3].any()  # a name of stop words only has no evidence


def test_stems_are_distinct_and_in_order():
    names = TagNames(["Sales / sales management", "IT"], 64)
    assert names.stems == [["sale", "manag"], []]


def test_added_tags_get_their_own_columns():
    bag = _bags(("Sales executive", "Sell."))
    names = TagNames(["Design"], FS.n_features)
    assert names.matches(bag).shape == (1, 3, 1)
    names.add(["Sales"])
    m = names.matches(bag)
    assert m.shape == (1, 3, 2) and m[0, ANY].tolist() == [0.0, 1.0]


def test_a_bag_of_another_width_is_refused():
    with pytest.raises(ValueError, match="columns"):
        TagNames(["Sales"], FS.n_features).matches(_bags(("a", "b"))[:, :100])


def test_no_tags_or_no_jobs_give_empty_matches():
    assert TagNames([], FS.n_features).matches(_bags(("Sales", "x"))).shape == (1, 3, 0)
    assert TagNames(["Sales"], FS.n_features).matches(_bags()).shape == (0, 3, 1)


def test_columns_name_the_bag_columns_of_one_tag():
    names = TagNames(["Sales", "Customer Service"], FS.n_features)
    cols = names.columns(1)
    assert [share for _, _, share in cols] == [0.5, 0.5]
    bag = _bags(("x", "customer"))
    assert bag[0, cols[0][0]] > 0 and bag[0, cols[1][0]] == 0


def test_the_prior_fades_with_a_tags_labeled_jobs():
    np.testing.assert_allclose(shrink(np.array([0, 30, 90]), 30.0), [1.0, 0.5, 0.25])
    np.testing.assert_allclose(shrink(np.array([0, 1000]), 0.0), [1.0, 1.0])


def test_with_an_embedder_the_title_is_matched_to_the_names_by_meaning(monkeypatch):
    from tests.helpers import FakeEmbedder, use_fake_embedder

    use_fake_embedder(monkeypatch)
    fs = FeatureSettings(n_features=2**12, embedder="fake")
    f = Featurizer(fs)
    batch = f.transform([make_job("python developer", "x", "a"), make_job("", "sales", "b")])
    names = TagNames(["Python developer", "Sales"], fs.n_features, embedder="fake")
    assert names.vectors.shape == (2, FakeEmbedder.dim)
    m = names.matches(batch.bag, batch.embedding)
    sem = m[:, SEMANTIC]
    assert sem[0, 0] > 0 > sem[0, 1] and sem[0].sum() == pytest.approx(0.0, abs=1e-6)
    assert not sem[1].any()  # no title: no evidence by meaning
    names.add(["Design"])
    assert names.vectors.shape == (3, FakeEmbedder.dim)
    with pytest.raises(ValueError, match="embeddings"):
        names.matches(batch.bag, None)
