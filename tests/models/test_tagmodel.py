"""TagModel: beats a trivial baseline, checkpoint round-trip and errors, add_tags, calibrate."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jobtag.config import FeatureSettings
from jobtag.errors import ModelError
from jobtag.evaluation.metrics import multilabel_metrics
from jobtag.models.checkpoint import load_model, save_model
from jobtag.models.tagmodel import TagModel
from jobtag.training.fit import train_model
from tests.models.synthetic import FS, make_jobs, tiny_settings, train_tiny


@pytest.fixture(scope="module")
def trained() -> TagModel:
    return train_tiny()


def test_scores_shape_and_range(trained):
    batch, _ = make_jobs(7, seed=9)
    s = trained.scores(batch)
    assert s.shape == (7, 3) and s.dtype == np.float32
    assert (s >= 0).all() and (s <= 1).all()
    assert trained.decide(s).dtype == bool
    assert trained.scores(batch[:0]).shape == (0, 3)


def test_beats_predict_most_frequent(trained):
    test, labels = make_jobs(80, seed=2)
    y = trained.targets_for(labels)
    model_f1 = evaluate(trained, test, y)["micro_f1"]
    top = np.zeros_like(y)
    top[:, y.sum(0).argmax()] = True  # the trivial baseline: always the most frequent tag
    base_f1 = multilabel_metrics(y, top)["micro_f1"]
    assert model_f1 > base_f1 + 0.2
    assert model_f1 > 0.8


def test_seed_configuration_trains_too():
    batch, labels = make_jobs(120, seed=4)
    model = train_model(batch, labels, tiny_settings(wide=False), FS, progress=False)
    assert model.net.wide is None and model.weighting is None
    test, tl = make_jobs(60, seed=5)
    assert evaluate(model, test, model.targets_for(tl))["micro_f1"] > 0.5


def test_checkpoint_round_trip(trained, tmp_path):
    batch, _ = make_jobs(20, seed=6)
    save_model(trained, tmp_path / "m")
    save_model(trained, tmp_path / "m")  # overwriting an existing model works too
    loaded = load_model(tmp_path / "m", expect_features=FS)
    assert loaded.tags == trained.tags
    np.testing.assert_array_equal(loaded.thresholds, trained.thresholds)
    np.testing.assert_array_equal(loaded.scores(batch), trained.scores(batch))
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["format_version"] == 2 and set(meta["versions"]) == {"jobtag", "torch", "python"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_corrupt_and_incompatible_checkpoints(trained, tmp_path):
    path = save_model(trained, tmp_path / "m")
    with pytest.raises(ModelError, match="features.n_features"):
        load_model(
            path, expect_features=FeatureSettings(n_features=1024, max_tokens=64, embedder="none")
        )
    weights = path / "tagger.pt"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    with pytest.raises(ModelError, match="tagger.pt"):
        load_model(path)
    path = save_model(trained, tmp_path / "m2")
    meta = json.loads((path / "model.json").read_text())
    meta["format_version"] = 99
    (path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="format version"):
        load_model(path)
    (path / "model.json").write_text("{not json")
    with pytest.raises(ModelError, match="corrupt"):
        load_model(path)
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "nothing")


def test_add_tags_keeps_old_predictions(trained, tmp_path):
    import copy

    model = copy.deepcopy(trained)
    batch, _ = make_jobs(15, seed=7)
    before = model.scores(batch)
    assert model.add_tags(["python", "newtag"]) == ["newtag"]
    after = model.scores(batch)
    assert after.shape == (15, 4) and model.tags[-1] == "newtag"
    # equal up to float summation order (a wider EmbeddingBag row may vectorize differently)
    np.testing.assert_allclose(after[:, :3], before, rtol=0, atol=1e-6)
    assert (after[:, 3] < 0.1).all()
    assert len(model.thresholds) == 4
    save_model(model, tmp_path / "grown")
    assert load_model(tmp_path / "grown").tags == model.tags


def test_calibrate_sets_thresholds(trained):
    import copy

    model = copy.deepcopy(trained)
    batch, labels = make_jobs(60, seed=11)
    y = model.targets_for(labels)
    thr = model.calibrate(batch, y)
    assert thr.shape == (3,) and ((thr > 0) & (thr < 1)).all()
    assert evaluate(model, batch, y)["micro_f1"] > 0.8


def evaluate(model, batch, y) -> dict:
    """multilabel_metrics of a model's decisions on a batch against bool truth y."""
    from jobtag.evaluation.metrics import multilabel_metrics

    scores = model.scores(batch)
    return multilabel_metrics(y, model.decide(scores), scores)


def test_a_residual_deep_path_trains_saves_and_loads(tmp_path):
    batch, labels = make_jobs(120, seed=2)
    settings = tiny_settings(
        residual=True,
        hidden=(16, 16, 16, 16, 16),
        deep_weights=(1.0,),
        deep_min_gain_out_of_fold=-1.0,
    )
    model = train_model(batch, labels, settings, FS, progress=False)
    assert model.net.cfg.residual and model.net.uses_deep  # the deep path serves
    loaded = load_model(save_model(model, tmp_path / "m"), expect_features=FS)
    assert loaded.net.cfg.residual
    np.testing.assert_allclose(loaded.scores(batch), model.scores(batch), rtol=1e-5, atol=1e-6)
