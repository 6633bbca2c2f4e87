"""train_model: unlabeled jobs, determinism, clear errors, training summary."""

from __future__ import annotations

import numpy as np
import pytest

from jobtag.config import FeatureSettings, TrainSettings
from jobtag.errors import TrainingError
from jobtag.training.fit import train_model
from tests.models.synthetic import N_FEATURES, make_jobs

FS = FeatureSettings(n_features=N_FEATURES, max_tokens=64)


def settings(**kw) -> TrainSettings:
    base = dict(ae_epochs=1, tagger_epochs=4, batch_size=16, seed=5, threads=1)
    base.update(kw)
    return TrainSettings(**base)


def test_unlabeled_jobs_train_only_the_autoencoder():
    batch, labels = make_jobs(80, seed=1)
    labels = [None if i % 4 == 0 else t for i, t in enumerate(labels)]
    unl, _ = make_jobs(20, seed=2)
    model = train_model(batch, labels, settings(), FS, unlabeled=unl, progress=False)
    s = model.summary
    assert s["labeled_jobs"] == 60 and s["unlabeled_jobs"] == 40
    assert s["validation_jobs"] == 6
    assert s["autoencoder"]["recall_at_k"] >= 0
    assert {"micro_f1", "macro_f1"} <= set(model.val_metrics)
    assert model.tags == ["design", "python", "sales"]


def test_deterministic_with_seed():
    batch, labels = make_jobs(60, seed=3)
    a = train_model(batch, labels, settings(), FS, progress=False)
    b = train_model(batch, labels, settings(), FS, progress=False)
    np.testing.assert_array_equal(a.scores(batch), b.scores(batch))
    np.testing.assert_array_equal(a.thresholds, b.thresholds)


def test_too_few_labeled_jobs():
    batch, labels = make_jobs(12, seed=4)
    with pytest.raises(TrainingError, match="labeled jobs"):
        train_model(batch, [None] * 12, settings(), FS, progress=False)
    with pytest.raises(TrainingError, match="no tag"):
        train_model(batch, [frozenset()] * 12, settings(), FS, progress=False)
    with pytest.raises(TrainingError, match="label sets"):
        train_model(batch, labels[:5], settings(), FS, progress=False)


def test_progress_bar_goes_to_stderr(capsys):
    batch, labels = make_jobs(40, seed=6)
    train_model(batch, labels, settings(), FS, progress=True)
    out = capsys.readouterr()
    assert out.out == ""
    assert "tagger" in out.err


def test_mix_is_chosen_on_validation_and_joint_training_works():
    from jobtag.training.fit import MIX_GRID

    batch, labels = make_jobs(80, seed=7)
    model = train_model(batch, labels, settings(), FS, progress=False)
    deep, wide = model.summary["mix"]
    assert deep in MIX_GRID and wide == 1.0
    assert model.tagger.mix.tolist() == [deep, wide]
    joint = train_model(
        batch, labels, settings(wide_solver="adam", refit=False), FS, progress=False
    )
    assert joint.tagger.mix.tolist() == [1.0, 1.0]
    assert joint.evaluate(batch, joint.targets_for(labels))["micro_f1"] > 0.5
