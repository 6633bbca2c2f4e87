"""Explanations come from the serving model: every path with weight, the job's own words, cheap."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jobtag.explain import explain_batch, path_weights, word_buckets
from jobtag.records import make_job

from .helpers import trained_tagger


@pytest.fixture(scope="module")
def tagger(tmp_path_factory):
    t = trained_tagger(tmp_path_factory.mktemp("explain"), jobs=200)
    yield t
    t.close()


JOB = make_job("Senior Python Developer", "<p>Django, REST APIs and <b>PostgreSQL</b>.</p>")


def test_words_are_the_jobs_own_and_explain_the_decided_tags(tagger):
    pred = tagger.predict([JOB], record=False, explain=True)[0]
    assert set(pred.explanations) == set(pred.tags)
    own = {w for w, _ in word_buckets(tagger.featurizer, JOB).values()}
    for why in pred.explanations.values():
        words = why["for"] + why["against"]
        assert words and {w["word"] for w in words} <= own
        assert all(w["weight"] > 0 for w in why["for"])
        assert all(w["weight"] < 0 for w in why["against"])
        assert [w["weight"] for w in why["for"]] == sorted(
            (w["weight"] for w in why["for"]), reverse=True
        )
    assert pred.to_dict()["explanations"] == pred.explanations
    assert "explanations" not in tagger.predict([JOB], record=False)[0].to_dict()


def test_wide_part_is_bag_times_weight_times_mix(tagger):
    model, _ = tagger.load_model()
    batch = tagger.featurizer.transform([JOB])
    words = [word_buckets(tagger.featurizer, JOB)]
    tag = model.tags[0]
    saved = model.net.mix.clone()
    try:
        model.net.mix.copy_(torch.tensor([0.0, 2.0]))  # the wide path alone, doubled
        got = explain_batch(model, batch, words, [[tag]], top_for=100, top_against=100)[0][tag]
    finally:
        model.net.mix.copy_(saved)
    bag = model.weighting.transform(batch.bag)
    w = model.net.wide.weight.detach().numpy()[:, 0]
    expect = {}
    for b, v in zip(bag.indices, bag.data, strict=True):
        word = words[0][b][0]
        expect[word] = expect.get(word, 0.0) + 2.0 * v * w[b]
    shown = {x["word"]: x["weight"] for x in got["for"] + got["against"]}
    for word, weight in shown.items():
        assert weight == pytest.approx(expect[word], abs=2e-3)
    assert path_weights(model).wide == pytest.approx(float(saved[1]))


def test_deep_path_counts_when_it_has_weight(tagger):
    model, _ = tagger.load_model()
    batch = tagger.featurizer.transform([JOB])
    words = [word_buckets(tagger.featurizer, JOB)]
    tag = model.tags[int(np.argmax(model.scores(batch)[0]))]
    saved = model.net.mix.clone()
    try:
        model.net.mix.copy_(torch.tensor([1.0, 0.0]))  # the deep path alone
        deep = explain_batch(model, batch, words, [[tag]], top_for=100, top_against=100)[0][tag]
    finally:
        model.net.mix.copy_(saved)
    assert deep["for"] or deep["against"]  # gradient x input on the words gives them weight


def test_the_tag_names_evidence_is_credited_to_the_words_of_the_name(tagger):
    model, _ = tagger.load_model()
    batch = tagger.featurizer.transform([JOB])  # "Senior Python Developer": the tag "python"
    words = [word_buckets(tagger.featurizer, JOB)]
    tag = "python"
    col = model.tags.index(tag)
    net = model.net
    saved = net.mix.clone(), net.names_weight.clone(), net.names_shrink.clone()
    table = net.wide.weight.detach().clone()
    try:
        with torch.no_grad():
            net.mix.copy_(torch.tensor([0.0, 2.0]))
            net.names_weight.copy_(torch.tensor([1.0, 0.5, 0.0]))
            net.names_shrink[col] = 0.8
            net.wide.weight.zero_()  # only the names push
        got = explain_batch(model, batch, words, [[tag]], top_for=100, top_against=100)[0][tag]
    finally:
        with torch.no_grad():
            net.mix.copy_(saved[0])
            net.names_weight.copy_(saved[1])
            net.names_shrink.copy_(saved[2])
            net.wide.weight.copy_(table)
    # in the title: its share of "anywhere" (1) and of the title weight (0.5), x mix x fade
    assert got["for"] == [{"word": "python", "title": True, "weight": pytest.approx(2.4)}]
    assert got["against"] == []
