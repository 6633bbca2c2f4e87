"""jobtag.app, the facade, end to end on a small synthetic board: train, predict, record, evaluate."""

from __future__ import annotations

import pytest

from jobtag.app import Tagger
from jobtag.errors import InputError, NoModel, NotFound
from jobtag.records import make_job
from jobtag.synthetic import BoardSpec, generate_jobs

from .helpers import board_file, tiny_settings, trained_tagger


@pytest.fixture(scope="module")
def tagger(tmp_path_factory):
    t = trained_tagger(tmp_path_factory.mktemp("tagger"))
    yield t
    t.close()


def test_train_registers_an_active_model(tagger):
    models = tagger.store.list_models()
    assert [m.status for m in models] == ["active"]
    model, version = tagger.load_model()
    assert version == models[0].version and models[0].metrics == model.val_metrics
    assert 0.5 < models[0].metrics["micro_f1"] <= 1.0  # validation F1 well above chance
    (run,) = tagger.store.update_history()  # the learning loop counts new jobs from here
    assert run.model_version == version and run.metrics_after == {
        k: model.val_metrics[k] for k in ("micro_f1", "macro_f1")
    }


def test_predict_records_jobs_and_beats_chance(tagger):
    jobs = [j for j in generate_jobs(BoardSpec(jobs=120, seed=99), start_id=10_000) if j.labeled]
    preds = tagger.predict([make_job(j.title, j.description, j.job_id) for j in jobs])
    hits = sum(bool(set(p.tags) & set(j.tags)) for p, j in zip(preds, jobs, strict=True))
    assert hits / len(jobs) > 0.6
    assert all(list(p.scores.values()) == sorted(p.scores.values(), reverse=True) for p in preds)
    stored = tagger.store.get_job(jobs[0].job_id)
    assert stored.title == jobs[0].title
    assert tagger.store.jobs_since_last_update() >= len(jobs)


def _commits(store) -> list[int]:
    import sqlalchemy as sa

    seen = [0]
    sa.event.listen(store.engine, "commit", lambda _conn: seen.__setitem__(0, seen[0] + 1))
    return seen


def test_a_recorded_prediction_is_one_write_transaction_with_its_features(tagger):
    jobs = [make_job(f"Rust developer {i}", f"<p>tokio, gRPC, team {i}</p>", f"one-tx-{i}")
            for i in range(5)]  # fmt: skip
    version = tagger.featurizer.version
    assert tagger.store.get_features([j.content_hash for j in jobs], version) == {}
    commits = _commits(tagger.store)
    tagger.predict(jobs, record=True)
    assert commits[0] == 1  # feature cache, jobs, predictions and tag links together
    cached = tagger.store.get_features([j.content_hash for j in jobs], version)
    assert len(cached) == 5 and tagger.store.get_job("one-tx-4").title == "Rust developer 4"
    tagger.predict(jobs, record=True)  # again: the features come from the cache
    assert commits[0] == 2


def test_warm_up_loads_the_model_and_stores_nothing(tagger, tmp_path):
    fresh = Tagger(tagger.settings)
    try:
        jobs_before = fresh.store.count_jobs()
        commits = _commits(fresh.store)
        assert fresh.warm_up() == fresh.store.active_model().version
        assert commits[0] == 0 and fresh.store.count_jobs() == jobs_before
        assert fresh._model is not None  # the first prediction does not load it
    finally:
        fresh.close()
    empty = Tagger(tiny_settings(tmp_path / "empty"))
    try:
        assert empty.warm_up() is None  # no model yet: nothing to warm, no error
    finally:
        empty.close()


def test_evaluate_file_reports_all_keys(tagger, tmp_path):
    path = board_file(tmp_path, jobs=150, seed=5, start_id=50_000)
    result = tagger.evaluate_file(path)
    for key in ("micro_f1", "macro_f1", "samples_f1", "precision_micro", "recall_micro",
                "p_at_1", "hamming_loss", "subset_accuracy", "binary_accuracy"):  # fmt: skip
        assert 0.0 <= result[key] <= 1.0, key
    assert result["micro_f1"] > 0.5
    assert result["binary_accuracy"] >= result["micro_f1"]  # why the seed's "accuracy" misleads


def test_reload_gives_the_same_scores(tagger):
    job = make_job("Senior Python Developer", "<p>django, rest api</p>")
    a = tagger.predict([job], record=False)[0].scores
    fresh = Tagger(tagger.settings)
    try:
        b = fresh.predict([job], record=False)[0].scores
    finally:
        fresh.close()
    assert a.keys() == b.keys()
    assert all(abs(a[k] - b[k]) < 1e-6 for k in a)


def test_feedback_unknown_job_is_a_clear_error(tagger):
    with pytest.raises(NotFound, match="no-such-job"):
        tagger.feedback("no-such-job", ["Sales"])


def test_bad_jobs_are_rejected():
    with pytest.raises(InputError, match="both empty"):
        make_job("", "  ")
    with pytest.raises(InputError, match="description has 1,000,001 characters"):
        make_job("t", "x" * 1_000_001)
    for args, message in [
        (("t\x00", "d"), "title contains a NUL byte"),
        (("t", "d\ud800"), "description contains a lone surrogate"),
        (("t", "d", "x" * 256), "job_id longer than 255"),
        (("t", "d", "1", "c" * 256), "company_id longer than 255"),
    ]:
        with pytest.raises(InputError, match=message):
            make_job(*args)
    assert make_job("t", "d").job_id.startswith("p-")
    assert make_job("t", "d", job_id=7).job_id == "7"


def test_predict_without_a_model(tmp_path):
    t = Tagger(tiny_settings(tmp_path / "home"))
    try:
        with pytest.raises(NoModel, match="jobtag train"):
            t.predict([make_job("t", "d")])
    finally:
        t.close()


def test_the_default_mode_trains_serves_and_updates_with_static_minilm_vectors(tmp_path):
    """The shipped default (features.embedder = "minilm-static", embedding_fit = "joint") end to
    end: training, serving, and an update that refits the bag's and the embedding's rows (the
    stacked fit's, which an update holds, are tested in tests/training/test_fit.py)."""
    from pathlib import Path

    import numpy as np
    import torch

    from jobtag.config import FeatureSettings
    from jobtag.explain import explain_batch, word_buckets
    from jobtag.models.checkpoint import load_model
    from jobtag.updating import maybe_update

    settings = tiny_settings(tmp_path / "home")
    settings.features.embedder = FeatureSettings().embedder
    with Tagger(settings) as t:
        t.store.import_file(board_file(tmp_path, 300))
        result = t.train(progress=False)
        model = t.load_model()[0]
        assert model.feature_settings.embedder == "minilm-static"
        assert "embedding_fit" not in result.summary  # joint
        n = settings.features.n_features
        before = model.net.wide.weight.detach().numpy().copy()
        assert before.shape[0] == n + 2 * 384 and np.abs(before[n:]).max() > 0
        jobs = list(generate_jobs(BoardSpec(jobs=40, seed=31), start_id=50_000))
        preds = t.predict([make_job(j.title, j.description, j.job_id) for j in jobs])
        assert all(p.tags for p in preds)  # at least its top tag each
        # the deep path reads the vectors' top directions; its explanations work with them
        assert model.net.cfg.deep_embed == 128 and model.net.cfg.deep_embed_from == 768
        job = make_job(jobs[0].title, jobs[0].description)
        batch, words = t.featurizer.transform([job]), [word_buckets(t.featurizer, job)]
        saved = model.net.mix.clone()
        try:
            model.net.mix.copy_(torch.tensor([1.0, 0.0]))  # the deep path alone
            deep = explain_batch(model, batch, words, [[model.tags[0]]], 100, 100)[0]
        finally:
            model.net.mix.copy_(saved)
        assert deep[model.tags[0]]["for"] or deep[model.tags[0]]["against"]
        for j in [j for j in jobs if j.labeled][:15]:
            t.feedback(j.job_id, sorted(j.tags))
        update = maybe_update(t)
        assert update is not None and update.new_version is not None, update
        new = load_model(Path(t.store.get_model(update.new_version).path))
        table = new.net.wide.weight.detach().numpy()
        assert np.abs(table[n:] - before[n:]).max() > 0  # the embedding's rows learned
        assert np.abs(table[:n] - before[:n]).max() > 0  # and the bag's
