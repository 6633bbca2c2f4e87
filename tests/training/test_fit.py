"""train_model: unlabeled jobs, determinism, clear errors, training summary."""

from __future__ import annotations

import numpy as np
import pytest

from jobtag.config import FeatureSettings, TrainSettings
from jobtag.errors import TrainingError
from jobtag.training.fit import train_model
from tests.models.synthetic import N_FEATURES, make_jobs

FS = FeatureSettings(n_features=N_FEATURES, max_tokens=64, embedder="none")


def settings(**kw) -> TrainSettings:
    base = dict(
        ae_epochs=1, tagger_epochs=4, batch_size=16, tagger_batch_size=16, seed=5, threads=1
    )
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
    ae = s["autoencoder"]
    assert 0 < ae["recall_at_k"] <= 1 and ae["baseline_recall_at_k"] > 0
    assert model.val_metrics["micro_f1"] > 0.5 and "macro_f1" in model.val_metrics
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


def test_calibration_and_thresholds_come_from_every_labeled_job_out_of_fold():
    batch, labels = make_jobs(120, seed=8)
    model = train_model(batch, labels, settings(), FS, progress=False)
    oof = model.summary["out_of_fold"]
    assert 0.5 < oof["micro_f1"] <= 1 and 0 < oof["macro_f1"] <= 1
    slice_only = train_model(batch, labels, settings(calibration_folds=0), FS, progress=False)
    assert "out_of_fold" not in slice_only.summary
    # the same SVM, calibrated on 120 jobs instead of 12: another Platt fit
    assert slice_only.summary["wide_C"] == model.summary["wide_C"]
    assert slice_only.net.mix.tolist() != model.net.mix.tolist()


def test_the_deep_path_is_cross_fitted_and_weighed_on_every_labeled_job():
    batch, labels = make_jobs(120, seed=8)
    model = train_model(batch, labels, settings(), FS, progress=False)
    tried = model.summary["out_of_fold_deep"]  # the mix's score out of fold, per deep weight
    assert set(tried) == {f"{w:g}" for w in model.settings.deep_weights}
    best = max((w for w in tried if float(w) > 0), key=tried.get)
    chosen = float(best) if tried[best] > tried["0"] else 0.0
    assert model.summary["deep_weight"] == chosen
    assert model.net.uses_deep == (chosen > 0)
    # a deep path that must count: cross-fitted, weighed, refitted on all, served
    forced = train_model(
        batch, labels, settings(deep_min_gain_out_of_fold=-1.0), FS, progress=False
    )
    assert forced.summary["deep_weight"] > 0 and forced.net.uses_deep
    assert len(forced.summary["refit_loss"]) == forced.summary["best_epoch"]
    scores = forced.scores(batch)
    assert scores.shape == (120, len(forced.tags)) and np.isfinite(scores).all()
    with forced.net.deep_alone():  # the deep path moves the served scores
        deep_only = forced.scores(batch)
    assert not np.allclose(deep_only, scores)
    # without cross-fitting, out-of-fold calibration of the wide path alone (weight 0)
    wide = train_model(batch, labels, settings(deep_cross_fit=False), FS, progress=False)
    assert "out_of_fold_deep" not in wide.summary and wide.summary["deep_weight"] == 0.0
    assert "out_of_fold" in wide.summary


def test_the_deep_path_is_cross_fitted_only_after_a_gain_on_validation():
    batch, labels = make_jobs(120, seed=8)
    out_of_reach = settings(deep_cross_fit_min_gain=1.0, deep_min_gain_out_of_fold=-1.0)
    model = train_model(batch, labels, out_of_reach, FS, progress=False)
    gain = model.summary["deep_cross_fit_skipped"]["validation_gain"]
    assert gain < 1.0 and "out_of_fold_deep" not in model.summary
    assert model.summary["deep_weight"] == 0.0 and not model.net.uses_deep
    assert "out_of_fold" in model.summary  # the wide path is still calibrated out of fold
    any_gain = settings(deep_cross_fit_min_gain=-1.0, deep_min_gain_out_of_fold=-1.0)
    model = train_model(batch, labels, any_gain, FS, progress=False)
    assert "deep_cross_fit_skipped" not in model.summary and model.net.uses_deep


def test_a_fine_tuned_encoder_is_cross_fitted_and_served_with_its_own_codes():
    batch, labels = make_jobs(80, seed=9)
    over = dict(finetune_encoder=True, deep_min_gain_out_of_fold=-1.0, tagger_epochs=2)
    model = train_model(batch, labels, settings(**over), FS, progress=False)
    assert model.summary["deep_weight"] > 0 and model.net.uses_deep
    assert set(model.summary["out_of_fold_deep"]) == {f"{w:g}" for w in model.settings.deep_weights}
    fixed = train_model(
        batch, labels, settings(deep_min_gain_out_of_fold=-1.0, tagger_epochs=2), FS, progress=False
    )
    tuned = model.ae.encoder.state_dict()
    assert any(  # the served encoder is the one fine-tuned with the deep path
        not np.allclose(tuned[k].numpy(), v.numpy())
        for k, v in fixed.ae.encoder.state_dict().items()
    )
    assert np.isfinite(model.scores(batch)).all()


def test_progress_bar_goes_to_stderr(capsys):
    batch, labels = make_jobs(40, seed=6)
    train_model(batch, labels, settings(), FS, progress=True)
    out = capsys.readouterr()
    assert out.out == ""
    assert "deep path" in out.err


def test_mix_c_and_calibration_are_chosen_on_validation():
    batch, labels = make_jobs(80, seed=7)
    model = train_model(batch, labels, settings(), FS, progress=False)
    s = model.summary
    assert s["wide_C"] in model.settings.wide_C_grid and model.settings.wide_C == s["wide_C"]
    assert s["deep_weight"] in model.settings.deep_weights
    from jobtag.training.mix import name_grid

    st = model.settings
    deep_grid = len(set(st.deep_weights) - {0.0})  # beside the best (C, names) only
    assert len(s["mix_scores"]) == len(st.wide_C_grid) * len(name_grid(st)) + deep_grid
    deep, wide, offset = s["mix"]
    assert wide > 0  # Platt's slope on the SVM margins
    assert (deep == 0) == (s["deep_weight"] == 0)
    assert model.net.mix.tolist() == [deep, wide] and float(model.net.offset) == offset
    assert model.net.uses_deep == (deep != 0)


def test_deep_weight_zero_skips_the_deep_path_and_the_code():
    batch, labels = make_jobs(80, seed=7)
    model = train_model(batch, labels, settings(deep_weights=(0.0,)), FS, progress=False)
    assert model.summary["deep_weight"] == 0.0 and not model.net.uses_deep
    assert model.prepare(batch, fixed_codes=True).codes is None  # the encoder is not run
    y = model.targets_for(labels)
    assert evaluate(model, batch, y)["micro_f1"] > 0.8


def test_training_restores_torch_threads():
    import torch

    before = torch.get_num_threads()
    batch, labels = make_jobs(40, seed=8)
    train_model(batch, labels, settings(threads=before + 1), FS, progress=False)
    assert torch.get_num_threads() == before
    with pytest.raises(TrainingError):
        train_model(batch, labels[:3], settings(threads=before + 1), FS, progress=False)
    assert torch.get_num_threads() == before


def evaluate(model, batch, y) -> dict:
    """multilabel_metrics of a model's decisions on a batch against bool truth y."""
    from jobtag.evaluation.metrics import multilabel_metrics

    scores = model.scores(batch)
    return multilabel_metrics(y, model.decide(scores), scores)


def test_deep_path_must_beat_the_wide_one_by_the_min_gain():
    batch, labels = make_jobs(80, seed=9)
    for gain in ("deep_min_gain", "deep_min_gain_out_of_fold"):  # the slice's, out of fold
        folds = 0 if gain == "deep_min_gain" else 5
        never = train_model(
            batch, labels, settings(calibration_folds=folds, **{gain: 1.0}), FS, progress=False
        )
        assert never.summary["deep_weight"] == 0.0 and not never.net.uses_deep
        always = train_model(
            batch, labels, settings(calibration_folds=folds, **{gain: -1.0}), FS, progress=False
        )
        assert always.summary["deep_weight"] > 0 and always.net.uses_deep


def _with_embedding(batch, labels, seed: int = 0, dim: int = 8):
    """The batch plus an 8-d unit 'sentence embedding' that encodes the tags (and noise)."""
    from jobtag.features.batch import FeatureBatch

    rng = np.random.default_rng(seed)
    tags = sorted({t for ts in labels for t in ts})
    emb = rng.normal(0, 0.3, (len(batch), dim)).astype(np.float32)
    for i, ts in enumerate(labels):
        for t in ts:
            emb[i, tags.index(t)] += 1.0
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return FeatureBatch(batch.bag, batch.numeric, batch.tokens, emb)


def test_sentence_embeddings_join_the_wide_path_and_survive_a_checkpoint(tmp_path):
    from jobtag.errors import ConfigError
    from jobtag.features.batch import FeatureBatch
    from jobtag.models.checkpoint import load_model, save_model

    batch, labels = make_jobs(80, seed=11)
    batch = _with_embedding(batch, labels)
    model = train_model(batch, labels, settings(), FS, progress=False)
    net = model.net
    assert net.cfg.n_embed == 8
    assert tuple(net.wide.weight.shape) == (N_FEATURES + 8, 3)
    emb_weights = net.wide.weight.detach().numpy()[N_FEATURES:]
    assert np.abs(emb_weights).max() > 0.05  # the SVM gave the embedding weight
    scores = model.scores(batch)
    flipped = FeatureBatch(batch.bag, batch.numeric, batch.tokens, -batch.embedding)
    assert np.abs(model.scores(flipped) - scores).max() > 0.01  # ... and it counts
    bare = FeatureBatch(batch.bag, batch.numeric, batch.tokens)
    with pytest.raises(ConfigError, match="sentence embeddings of width 8"):
        model.scores(bare)
    path = save_model(model, tmp_path / "m")
    again = load_model(path)
    np.testing.assert_allclose(again.scores(batch), scores, atol=1e-6)


def test_the_deep_path_reads_the_embeddings_top_directions_and_they_survive_a_checkpoint(
    tmp_path,
):
    from jobtag.errors import ConfigError
    from jobtag.features.batch import FeatureBatch
    from jobtag.models.checkpoint import load_model, save_model

    batch, labels = make_jobs(80, seed=11)
    batch = _with_embedding(batch, labels)
    seed_arch = settings(wide=False, deep_embedding=3)  # the deep path alone: it counts
    model = train_model(batch, labels, seed_arch, FS, progress=False)
    cfg = model.net.cfg
    assert (cfg.deep_embed, cfg.deep_embed_from) == (3, 8)
    basis = model.net.embed_basis.numpy()
    assert basis.shape == (8, 3)
    data = model.prepare(batch)
    assert data.embedding.shape == (80, 3)
    np.testing.assert_allclose(np.square(data.embedding).sum(1).mean(), 3.0, rtol=1e-4)
    cols = basis / np.linalg.norm(basis, axis=0)
    np.testing.assert_allclose(cols.T @ cols, np.eye(3), atol=1e-5)  # orthogonal directions
    scores = model.scores(batch)
    flipped = FeatureBatch(batch.bag, batch.numeric, batch.tokens, -batch.embedding)
    assert np.abs(model.scores(flipped) - scores).max() > 0.01  # the deep path reads it
    with pytest.raises(ConfigError, match="deep path expects sentence embeddings of width 8"):
        model.scores(FeatureBatch(batch.bag, batch.numeric, batch.tokens))
    again = load_model(save_model(model, tmp_path / "m"))
    np.testing.assert_array_equal(again.net.embed_basis.numpy(), basis)
    np.testing.assert_allclose(again.scores(batch), scores, atol=1e-6)
    off = train_model(batch, labels, settings(wide=False, deep_embedding=0), FS, progress=False)
    assert off.net.cfg.deep_embed == 0 and not hasattr(off.net, "embed_basis")
    assert off.prepare(batch).embedding is None
    wider = train_model(batch, labels, settings(wide=False, deep_embedding=50), FS, progress=False)
    assert wider.net.cfg.deep_embed == 8  # at most every direction


def test_a_stacked_embedding_serves_as_table_rows_and_an_update_holds_them():
    """embedding_fit="stacked": the table's embedding rows are each tag's ridge (fitted
    on every labeled job) times the weight its SVM gave the ridge's column; an update refits the
    bag's rows and holds those. "joint": one SVM, and an update moves every row."""
    import copy

    from jobtag.records import label_matrix
    from jobtag.training.embedfit import fit_ridge
    from jobtag.training.update import refit_wide_path

    batch, labels = make_jobs(80, seed=11)
    batch = _with_embedding(batch, labels)
    model = train_model(batch, labels, settings(embedding_fit="stacked"), FS, progress=False)
    assert model.summary["embedding_fit"] == "stacked"
    e = model.settings.embedding_weight * batch.embedding  # the layer's embedding columns
    y = label_matrix(labels, model.tags)
    table = model.net.wide.weight.detach().numpy().copy()
    ridge = fit_ridge(e, y, model.settings.embedding_ridge_penalty)
    lean = table[N_FEATURES:] / ridge  # per tag: the same factor down every row
    np.testing.assert_allclose(lean, np.broadcast_to(lean[0], lean.shape), rtol=1e-3)
    assert (lean[0] > 0).all()  # the embedding encodes the tags: every tag leans on it
    sw = np.linspace(0.5, 1.5, len(y)).astype(np.float32)
    targets = y[:, ::-1].astype(np.float32)  # other targets: the rows that may move must
    joint = train_model(batch, labels, settings(embedding_fit="joint"), FS, progress=False)
    assert "embedding_fit" not in joint.summary
    for m, held in ((model, True), (joint, False)):
        before = m.net.wide.weight.detach().numpy().copy()
        m2 = copy.deepcopy(m)
        refit_wide_path(m2, batch.bag, targets, sw, 30, batch.embedding)
        after = m2.net.wide.weight.detach().numpy()
        assert np.abs(after[:N_FEATURES] - before[:N_FEATURES]).max() > 0.01
        moved = np.abs(after[N_FEATURES:] - before[N_FEATURES:]).max()
        assert (moved == 0) if held else (moved > 1e-3)
    # a tag added later (its rows zero) learns its embedding rows with its bag's; old ones hold
    m3 = copy.deepcopy(model)
    m3.add_tags(["Extra"])
    extra = np.c_[y, y[:, 0]].astype(np.float32)
    refit_wide_path(m3, batch.bag, extra, sw, 30, batch.embedding)
    grown = m3.net.wide.weight.detach().numpy()
    assert np.array_equal(grown[N_FEATURES:, :-1], table[N_FEATURES:])
    assert np.abs(grown[N_FEATURES:, -1]).max() > 1e-3


def test_the_served_net_carries_the_chosen_name_weights_in_margin_units():
    from jobtag.training.mix import Names, apply_mix

    batch, labels = make_jobs(80, seed=7)
    model = train_model(batch, labels, settings(), FS, progress=False)
    assert model.summary["name_weights"] == [0.0, 0.0, 0.0, 0.0]  # no tag name is in these bags
    assert not model.net.uses_names and model.prepare(batch).names is None
    mix = _mix_like(model, names=Names(1.0, 0.5, 0.0, 30.0), unit=2.0)
    apply_mix(model, mix, np.array([0, 30, 90]))
    assert model.net.names_weight.tolist() == [2.0, 1.0, 0.0] and model.net.uses_names
    np.testing.assert_allclose(model.net.names_shrink.numpy(), [1.0, 0.5, 0.25])
    assert model.prepare(batch).names.shape == (80, 3, 3)  # now the matches are computed


def _mix_like(model, **kw):
    from jobtag.training.mix import Mix

    deep, wide, offset = model.summary["mix"]
    base = dict(C=1.0, deep_weight=0.0, scale=0.0, a=wide, b=offset, wide_fit=None, tried={})
    return Mix(**base, val_scores=np.zeros((1, 3), np.float32), **kw)
