"""The learning loop: due after N jobs or M corrections, new tags, the guard, rollback, lock, kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
import torch

from jobtag.app import Tagger
from jobtag.errors import LockBusy, TrainingError
from jobtag.judging import in_judge
from jobtag.models.checkpoint import load_model
from jobtag.records import make_job
from jobtag.synthetic import BoardSpec, generate_jobs
from jobtag.updating import maybe_update, pseudo_labels, run_update, update_due

from .helpers import trained_tagger


def _stream(tagger: Tagger, n: int, seed: int, start: int, correct: int = 0, extra_tag=None):
    """Predict n new jobs; give the first `correct` labeled ones their true tags as feedback."""
    jobs = list(generate_jobs(BoardSpec(jobs=n, seed=seed), start_id=start))
    tagger.predict([make_job(j.title, j.description, j.job_id) for j in jobs])
    done = 0
    for j in jobs:
        if j.labeled and done < correct:
            tagger.feedback(j.job_id, sorted(j.tags | ({extra_tag} if extra_tag else set())))
            done += 1
    return jobs


@pytest.fixture
def tagger(tmp_path):
    t = trained_tagger(tmp_path, jobs=300)
    yield t
    t.close()


def test_no_update_before_n_jobs(tagger):
    _stream(tagger, 5, seed=11, start=20_000)
    assert maybe_update(tagger) is None


def test_update_with_corrections_and_a_new_tag(tagger):
    before = tagger.load_model()[0]
    old_tags = list(before.tags)
    _stream(tagger, 40, seed=12, start=30_000, correct=25, extra_tag="Remote")
    result = maybe_update(tagger)
    assert result is not None and result.new_jobs >= 40
    assert result.labeled >= 20 and result.new_tags == ["Remote"]
    assert result.corrections == 25 and result.judge_jobs > 0
    assert result.promoted, result.reason  # a tag only corrections know does not block promotion
    models = tagger.store.list_models()
    assert len(models) == 2
    new = load_model(__import__("pathlib").Path(models[-1].path))
    assert new.tags[: len(old_tags)] == old_tags and "Remote" in new.tags
    history = tagger.store.update_history()
    assert history[-1].status == "done" and history[-1].labels == result.labeled
    assert tagger.store.jobs_since_last_update() == 0
    p = tagger.predict([make_job("Backend Developer", "remote api server")], record=False)[0]
    assert "Remote" in p.scores and p.model_version == result.new_version


def test_promotion_refuses_a_worse_model(tagger, monkeypatch):
    active = tagger.store.active_model().version

    def sabotage(model, *args, **kwargs):  # a "fine-tune" that wrecks the model
        for module in model.__dict__.values():
            if hasattr(module, "parameters"):
                for p in module.parameters():
                    p.data.copy_(sa_noise(p.data.shape))

    def sabotage_wide(weight, bias, *args, **kwargs):
        weight.copy_(sa_noise(weight.shape))
        bias.copy_(sa_noise(bias.shape))

    monkeypatch.setattr("jobtag.updating.fine_tune", sabotage)
    monkeypatch.setattr("jobtag.training.update.refit_wide", sabotage_wide)
    _stream(tagger, 60, seed=13, start=40_000, correct=40)
    result = run_update(tagger)
    assert result.judge_jobs >= 5 and not result.promoted, result.reason
    assert result.after["micro_f1"] < result.before["micro_f1"]
    assert tagger.store.active_model().version == active
    statuses = {m.version: m.status for m in tagger.store.list_models()}
    assert statuses[result.new_version] == "candidate"


def sa_noise(shape):
    import torch

    g = torch.Generator().manual_seed(0)
    return torch.randn(shape, generator=g) * 3.0


def test_rollback_and_promote(tagger):
    first = tagger.store.active_model().version
    _stream(tagger, 40, seed=14, start=50_000, correct=20)
    tagger.settings.update.promote_tolerance = 1.0  # accept whatever comes out
    result = run_update(tagger)
    assert result.promoted and tagger.store.active_model().version == result.new_version
    tagger.store.rollback()
    assert tagger.store.active_model().version == first
    assert tagger.load_model()[1] == first  # the tagger follows the store
    tagger.store.promote(result.new_version)
    assert tagger.load_model()[1] == result.new_version


def test_lock_blocks_a_second_update(tagger):
    _stream(tagger, 40, seed=15, start=60_000)
    with tagger.store.update_lock("someone-else"), pytest.raises(LockBusy, match="someone-else"):
        run_update(tagger)


def test_pseudo_label_gate():
    th = {"a": 0.5, "b": 0.5, "c": 0.5}
    assert pseudo_labels({"a": 0.95, "b": 0.02, "c": 0.01}, th, 0.9) == {"a"}
    assert pseudo_labels({"a": 0.95, "b": 0.6, "c": 0.01}, th, 0.9) is None  # b undecided
    assert pseudo_labels({"a": 0.7, "b": 0.2, "c": 0.01}, th, 0.9) is None  # nothing confident


@pytest.mark.slow
def test_killed_update_leaves_the_current_model_serving(tagger, tmp_path):
    # a deep path with weight makes the update long enough to kill (50 epochs of fine-tuning)
    tagger.settings.train.deep_min_gain_out_of_fold = -1.0
    tagger.train(progress=False)
    assert tagger.load_model()[0].net.uses_deep
    _stream(tagger, 60, seed=16, start=70_000, correct=20)
    active = tagger.store.active_model().version
    s = tagger.settings
    env = {**os.environ, "JOBTAG_HOME": str(s.home), "JOBTAG_FEATURES__N_FEATURES": "4096",
           "JOBTAG_FEATURES__MAX_TOKENS": "64", "JOBTAG_UPDATE__EPOCHS": "50",
           "JOBTAG_UPDATE__FINE_TUNE_DEEP": "true"}  # fmt: skip
    runs = sa.table("update_runs", sa.column("status"))
    engine = sa.create_engine(s.database_url)

    def n_runs() -> int:
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(runs)).scalar()

    for _attempt in range(2):
        seen = n_runs()
        proc = subprocess.Popen(
            [sys.executable, "-m", "jobtag", "-q", "update", "--force"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            if n_runs() > seen:  # this process opened its update run
                time.sleep(0.5)  # let it get into training
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    engine.dispose()
    # The previous model still serves, and the next update takes the stale lock over.
    assert tagger.store.active_model().version == active
    p = tagger.predict([make_job("Recruiter", "sourcing candidates")], record=False)[0]
    assert p.model_version == active and np.isfinite(list(p.scores.values())).all()
    tagger.settings.update.epochs = 1
    result = run_update(tagger)
    assert result.new_version is not None
    assert [r.status for r in tagger.store.update_history()][-3:] == ["aborted", "aborted", "done"]


def test_corrections_alone_make_an_update_due_and_teach_a_new_tag(tagger):
    """Predict first, correct later (the reviewer's order): the corrections are learned."""
    jobs = _stream(tagger, 40, seed=21, start=80_000)
    first = run_update(tagger)  # self-training only: nothing labeled to judge it on
    assert not first.promoted and "no labeled evidence" in first.reason
    assert update_due(tagger) is None
    with pytest.raises(TrainingError, match="nothing to learn"):
        run_update(tagger)
    assert [r.status for r in tagger.store.update_history()][-1] == "done"  # no failed run
    backend = [j for j in jobs if "backend" in j.title.lower() or "python" in j.title.lower()]
    picked = (backend + [j for j in jobs if j not in backend])[:12]
    for j in picked:
        tagger.feedback(j.job_id, ["Rust"])
    assert "12 new corrections" in (update_due(tagger) or "")
    result = maybe_update(tagger)
    assert result is not None and result.corrections == 12 and result.new_tags == ["Rust"]
    assert result.promoted, result.reason
    history = tagger.store.update_history()[-1]
    assert history.model_version == result.new_version and "Rust" in history.reason
    assert history.metrics_after["corrections"] == 12
    like = picked[0]
    p = tagger.predict([make_job(like.title, like.description)], record=False)[0]
    assert "Rust" in p.tags, p.scores


def test_judge_jobs_are_not_learned_before_the_decision(tagger, monkeypatch):
    from jobtag.training import update

    seen: list[int] = []
    real = update.refit_wide

    def spy(weight, bias, x, y, *args, **kwargs):
        seen.append(x.shape[0])
        return real(weight, bias, x, y, *args, **kwargs)

    monkeypatch.setattr(update, "refit_wide", spy)
    jobs = _stream(tagger, 60, seed=22, start=90_000, correct=60)
    labeled_new = [j for j in jobs if j.labeled]
    n_judge = sum(in_judge(j.job_id, tagger.settings.update.judge_fraction) for j in labeled_new)
    result = run_update(tagger)
    assert result.judge_jobs == n_judge > 0
    assert result.promoted and result.folded, result.reason
    learn_rows, fold_rows = seen
    assert fold_rows - learn_rows == n_judge  # judged first, learned after the decision


def test_old_versions_files_are_pruned_and_what_is_kept_still_works(tagger):
    tagger.settings.update.keep_versions = 1
    first = tagger.store.active_model()
    results = []
    for k in range(4):
        _stream(tagger, 20, seed=40 + k, start=110_000 + 1000 * k, correct=20)
        results.append(run_update(tagger))
    models = tagger.store.list_models()
    assert len(models) == 5  # every version keeps its row
    on_disk = [m.version for m in models if __import__("pathlib").Path(m.path).is_dir()]
    assert not any(m.pruned for m in models if m.version in on_disk)
    assert all(m.pruned for m in models if m.version not in on_disk)
    active = tagger.store.active_model().version
    assert active in on_disk and len(on_disk) <= 3  # active + 1 rollback target + 1 other
    assert first.version not in on_disk or active == first.version
    if any(r.promoted for r in results[1:]):  # the newest previous active one is still there
        back = tagger.store.rollback()
        assert back.version in on_disk
        tagger.load_model()  # and loads
    # the autoencoder of the wide-only updates is one file, linked across versions
    inodes = {
        (__import__("pathlib").Path(m.path) / "autoencoder.pt").stat().st_ino
        for m in models
        if m.version in on_disk
    }
    if not tagger.load_model()[0].net.uses_deep:
        assert len(inodes) == 1


def test_accurate_mode_trains_predicts_and_updates_with_embeddings(tmp_path, monkeypatch):
    """features.embedder (here a fake MiniLM): the embedding reaches training, predictions
    and the update's wide refit, and is saved with the model."""
    from .helpers import board_file, tiny_settings, use_fake_embedder

    use_fake_embedder(monkeypatch)
    settings = tiny_settings(tmp_path / "home")
    settings.features.embedder = "fake"
    tagger = Tagger(settings)
    tagger.store.import_file(board_file(tmp_path, 300))
    tagger.train(progress=False)
    model = tagger.load_model()[0]
    assert model.net.cfg.n_embed == 32 and model.feature_settings.embedder == "fake"
    assert model.tag_names.vectors.shape == (len(model.tags), 16)  # the names, by meaning
    # only labeled jobs were embedded: unlabeled ones train the autoencoder, which needs none
    from jobtag.features import embedding

    stats = tagger.store.stats()
    assert 0 < stats["labeled_jobs"] < stats["jobs"]
    calls = embedding._LOADED["fake"].calls
    texts = sum(1 for call in calls for text in call if "\n" in text)  # title + description
    assert texts == stats["labeled_jobs"]
    _stream(tagger, 40, seed=12, start=30_000, correct=25, extra_tag="Remote")
    result = maybe_update(tagger)
    assert result is not None and result.new_tags == ["Remote"], result
    new = load_model(__import__("pathlib").Path(tagger.store.list_models()[-1].path))
    assert new.net.cfg.n_embed == 32
    assert tuple(new.net.wide.weight.shape)[0] == settings.features.n_features + 32
    assert new.tag_names.vectors.shape == (len(new.tags), 16)  # "Remote" embedded too
    p = tagger.predict([make_job("Backend Developer", "remote api server")], record=False)[0]
    assert "Remote" in p.scores
    tagger.close()
    # the same home with other settings: the model is served with the features it was trained
    # with (the settings' apply from the next training)
    others = tiny_settings(tmp_path / "home")
    others.features.embedder = "none"
    with Tagger(others) as plain:
        q = plain.predict([make_job("Backend Developer", "remote api server")], record=False)[0]
        assert plain.featurizer.settings.embedder == "fake"
    assert q.scores == pytest.approx(p.scores)


def test_an_update_leaves_a_weighted_deep_path_as_it_is_unless_told_to_fine_tune_it(tagger):
    tagger.settings.train.deep_min_gain_out_of_fold = -1.0  # the deep path counts
    tagger.train(progress=False)
    base = tagger.load_model()[0]
    assert base.net.uses_deep
    _stream(tagger, 100, seed=21, start=80_000, correct=30)

    def deep_changed(result) -> bool:
        model = load_model(Path(tagger.store.get_model(result.new_version).path))
        pairs = zip(base.net.deep.parameters(), model.net.deep.parameters(), strict=True)
        return not all(torch.equal(a, b) for a, b in pairs)

    first = run_update(tagger)  # default: the wide path refits, the deep path stays
    assert first.replay == 0 and not deep_changed(first)
    tagger.settings.update.fine_tune_deep = True
    base = tagger.load_model(reload=True)[0]
    _stream(tagger, 100, seed=22, start=81_000, correct=30)
    second = run_update(tagger)
    assert second.replay > 0 and deep_changed(second)


def test_versions_with_other_features_are_each_served_and_compared_with_their_own(
    tagger, monkeypatch
):
    """A model trained before the settings changed (here: the bag alone, then an embedder) is
    scored with the features it was trained with, in predict and in compare_versions."""
    from jobtag.judging import compare_versions

    from .helpers import use_fake_embedder

    use_fake_embedder(monkeypatch)
    tagger.settings.features.embedder = "fake"
    tagger.train(progress=False)  # v2: with the embedding
    assert tagger.load_model()[0].feature_settings.embedder == "fake"
    _stream(tagger, 60, seed=41, start=90_000, correct=60)
    rows = {r["version"]: r for r in compare_versions(tagger)["models"]}
    assert set(rows) == {1, 2} and all(0 < rows[v]["micro_f1"] <= 1 for v in rows)
    tagger.store.promote(1)  # back to the bag model: served with its own features
    p = tagger.predict([make_job("Backend Developer", "python api server")], record=False)[0]
    assert tagger.featurizer.settings.embedder == "none" and p.tags
