"""Epochs: length-sorted batches, a tagger epoch that learns, the optimizers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jobtag.models.forward import NetInputs, net_scores
from jobtag.models.tagnet import TagNet, TagNetConfig
from jobtag.training.epochs import adam, deep_optimizer, length_batches, net_epoch
from tests.models.synthetic import N_FEATURES, make_jobs, train_tiny


@pytest.fixture(scope="module")
def trained():
    return train_tiny()


def test_length_batches_cover_every_job_once_and_group_lengths():
    lengths = np.array([5, 100, 6, 99, 7, 98, 8, 97])
    batches = length_batches(lengths, 2, np.random.default_rng(0))
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(8))
    for b in batches:  # similar lengths share a batch: short with short, long with long
        assert len({lengths[i] > 50 for i in b}) == 1


def test_a_deep_tagger_epoch_lowers_the_loss():
    torch.manual_seed(0)
    batch, labels = make_jobs(80, seed=2)
    tags = ["design", "python", "sales"]
    y = np.array([[t in (lab or ()) for t in tags] for lab in labels], dtype=np.float32)
    codes = np.random.default_rng(0).normal(size=(80, 100)).astype(np.float32)
    codes[:, :3] += 3 * y  # codes that carry the tags
    data = NetInputs(batch.tokens, np.zeros((80, 11), np.float32), codes, None)
    net = TagNet(TagNetConfig(n_tags=3, n_features=N_FEATURES, wide=False))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    w, pw = np.ones(80, np.float32), np.ones(3, np.float32)
    losses = [
        net_epoch(net, None, data, y, w, pw, opt, batch_size=16, max_tokens=64, rng=rng)
        for _ in range(15)
    ]
    assert losses[-1] < 0.5 * losses[0]
    scores = net_scores(net, None, data, 64)
    assert ((scores > 0.5) == (y > 0.5)).mean() > 0.9


def test_deep_optimizer_trains_the_deep_path_and_the_encoder_only_when_fine_tuned(trained):
    import copy

    model = copy.deepcopy(trained)
    deep = {id(p) for p in [*model.net.deep.parameters(), *model.net.out.parameters()]}
    opt = deep_optimizer(model, lr=0.01)
    assert [g["lr"] for g in opt.param_groups] == [0.01]
    assert {id(p) for p in opt.param_groups[0]["params"]} == deep  # never the wide path
    model.settings.finetune_encoder = True
    groups = deep_optimizer(model, lr=0.01).param_groups
    assert len(groups) == 2 and groups[1]["lr"] == 0.01 * model.settings.encoder_lr_scale


def test_adam_takes_multi_tensor_steps_to_the_same_weights_bit_for_bit():
    def weights(make):
        torch.manual_seed(0)
        net = TagNet(TagNetConfig(n_tags=3, n_features=N_FEATURES, wide=False))
        opt = make(net.parameters(), lr=1e-2, weight_decay=1e-4)
        g = torch.Generator().manual_seed(1)
        for _ in range(5):
            for p in net.parameters():
                p.grad = torch.randn(p.shape, generator=g)
            opt.step()
        return [p.detach().clone() for p in net.parameters()]

    ours = adam([torch.zeros(2, requires_grad=True)])
    assert ours.defaults["foreach"] is True
    for a, b in zip(weights(adam), weights(torch.optim.Adam), strict=True):
        assert torch.equal(a, b)
