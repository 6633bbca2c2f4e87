"""The update's fits: fine_tune moves the deep path toward its targets, the wide refit too."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from jobtag.training.update import fine_tune, refit_wide_path
from tests.models.synthetic import make_jobs, train_tiny


@pytest.fixture(scope="module")
def trained():
    return train_tiny()


def test_fine_tune_moves_toward_targets(trained):
    model = copy.deepcopy(trained)
    model.add_tags(["newtag"])
    batch, labels = make_jobs(60, seed=8)
    targets = model.targets_for(labels).astype(np.float32)
    has_python = targets[:, 0] > 0
    targets[has_python, 3] = 1.0  # the new tag goes with "design" words... here: with python jobs
    mix = model.net.mix.clone()

    def deep_scores() -> np.ndarray:  # fine_tune trains the deep path; the wide one is refit
        with model.net.deep_alone():
            return model.scores(batch)[:, 3]

    before = deep_scores()
    unl, _ = make_jobs(30, seed=10)
    hist = fine_tune(model, batch, targets, np.ones(60), unlabeled=unl, epochs=8, lr=5e-3)
    assert len(hist["ae_loss"]) == 8 and len(hist["tagger_loss"]) == 8
    assert torch.equal(model.net.mix, mix)  # the served mix is left as it was
    after = deep_scores()
    gain_pos = after[has_python].mean() - before[has_python].mean()
    assert gain_pos > 0.2
    assert after[has_python].mean() > after[~has_python].mean() + 0.2
    with pytest.raises(ValueError, match="targets"):
        fine_tune(model, batch, targets[:, :2], np.ones(60))


def test_refit_wide_path_learns_a_new_tag_and_leaves_the_deep_path(trained):
    model = copy.deepcopy(trained)
    model.add_tags(["newtag"])
    batch, labels = make_jobs(80, seed=9)
    targets = model.targets_for(labels).astype(np.float32)
    targets[:, 3] = targets[:, 0]  # the new tag goes with python jobs
    deep = [p.clone() for p in model.net.deep.parameters()]
    before = model.scores(batch)[:, 3]
    refit_wide_path(model, batch.bag, targets, np.ones(80), max_iter=50)
    after = model.scores(batch)[:, 3]
    pos = targets[:, 3] > 0
    assert after[pos].mean() - before[pos].mean() > 0.2
    assert after[pos].mean() > after[~pos].mean() + 0.2
    assert all(torch.equal(a, b) for a, b in zip(deep, model.net.deep.parameters(), strict=True))


def test_refit_fades_the_names_evidence_by_the_jobs_each_tag_has_now(trained):
    model = copy.deepcopy(trained)
    model.add_tags(["newtag"])  # a new tag: its name counts in full
    batch, labels = make_jobs(80, seed=9)
    targets = model.targets_for(labels).astype(np.float32)
    targets[:, 3] = targets[:, 0]
    weights = np.ones(80, np.float32)
    weights[:20] = 0.5  # pseudo-labels count at their weight
    with torch.no_grad():
        model.net.names_weight.copy_(torch.tensor([1.0, 0.5, 0.0]))
    model.summary["name_weights"] = [1.0, 0.5, 0.0, 30.0]
    assert float(model.net.names_shrink[3]) == 1.0
    refit_wide_path(model, batch.bag, targets, weights, max_iter=5)
    jobs = (targets * weights[:, None]).sum(0)
    expected = 30.0 / (30.0 + jobs)
    assert np.allclose(model.net.names_shrink.numpy(), expected, atol=1e-6)
    assert float(model.net.names_shrink[3]) < 1.0
    # a model whose names do not count keeps its shrink as it was
    plain = copy.deepcopy(trained)
    with torch.no_grad():
        plain.net.names_weight.zero_()
    kept = plain.net.names_shrink.clone()
    plain.summary["name_weights"] = [0.0, 0.0, 0.0, 30.0]
    refit_wide_path(plain, batch.bag, targets[:, :3], weights, max_iter=5)
    assert torch.equal(plain.net.names_shrink, kept)
