"""TagNet: paths with no weight are not computed, the deep path alone, new tags' start."""

from __future__ import annotations

import pytest
import torch

from jobtag.models.inputs import bag_inputs
from jobtag.models.tagnet import TagNet, TagNetConfig
from tests.models.synthetic import N_FEATURES, make_jobs


def _net() -> TagNet:
    torch.manual_seed(0)
    net = TagNet(TagNetConfig(n_tags=3, n_features=N_FEATURES))
    with torch.no_grad():
        net.wide.weight.normal_()
    return net.eval()  # no dropout: logits are a function of the inputs


def test_mix_and_offset_make_the_logits():
    net = _net()
    batch, _ = make_jobs(5, seed=1)
    x, wide = torch.randn(5, 111), bag_inputs(batch.bag)
    net.mix.copy_(torch.tensor([0.5, 2.0]))
    net.offset.fill_(-1.0)
    expect = 0.5 * net.deep_logits(x) + 2.0 * net.wide_margins(wide) - 1.0
    torch.testing.assert_close(net(x, wide), expect)


def test_a_path_without_weight_needs_no_input():
    net = _net()
    batch, _ = make_jobs(4, seed=2)
    net.mix.copy_(torch.tensor([0.0, 1.0]))
    assert not net.uses_deep
    assert net(None, bag_inputs(batch.bag)).shape == (4, 3)  # no code needed
    net.mix.copy_(torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="deep path"):
        net(None, bag_inputs(batch.bag))


def test_deep_alone_restores_the_served_mix_even_on_error():
    net = _net()
    net.mix.copy_(torch.tensor([0.0, 3.0]))
    net.offset.fill_(0.7)
    with pytest.raises(RuntimeError), net.deep_alone():
        assert net.mix.tolist() == [1.0, 0.0] and float(net.offset) == 0.0
        raise RuntimeError("boom")
    assert net.mix.tolist() == [0.0, 3.0] and float(net.offset) == pytest.approx(0.7)


def test_new_tags_start_at_new_tag_bias_whatever_the_calibration():
    net = _net()
    batch, _ = make_jobs(4, seed=3)
    net.mix.copy_(torch.tensor([0.0, 2.5]))
    net.offset.fill_(1.3)
    net.add_tags(2)
    logits = net(None, bag_inputs(batch.bag))
    assert logits.shape == (4, 5)
    torch.testing.assert_close(logits[:, 3:], torch.full((4, 2), net.cfg.new_tag_bias))


def test_the_tag_names_prior_rides_on_the_wide_weight():
    net = _net()
    batch, _ = make_jobs(4, seed=4)
    wide = bag_inputs(batch.bag)
    names = torch.rand(4, 3, 3)
    net.mix.copy_(torch.tensor([0.0, 2.0]))
    assert not net.uses_names and net(None, wide).shape == (4, 3)  # weight 0: not needed
    net.names_weight.copy_(torch.tensor([0.5, 1.5, -1.0]))
    net.names_shrink.copy_(torch.tensor([1.0, 0.5, 0.0]))
    assert net.uses_names
    prior = torch.tensor([1.0, 0.5, 0.0]) * (0.5 * names[:, 0] + 1.5 * names[:, 1] - names[:, 2])
    torch.testing.assert_close(net(None, wide, names), 2.0 * (net.wide_margins(wide) + prior))
    with pytest.raises(ValueError, match="tag names"):
        net(None, wide)
    net.add_tags(1)  # a new tag has no labeled jobs: its name counts in full
    assert net.names_shrink.tolist() == [1.0, 0.5, 0.0, 1.0]


def test_residual_layers_add_their_output_to_their_input():
    torch.manual_seed(0)
    cfg = TagNetConfig(n_tags=3, n_features=N_FEATURES, hidden=(8, 8, 8), residual=True)
    net = TagNet(cfg).eval()
    x = torch.randn(4, cfg.code_dim + cfg.n_numeric)
    first, second, third = net.deep.layers
    h = first(x)  # 111 -> 8: no input of its width to add
    h = h + second(h)
    h = h + third(h)
    torch.testing.assert_close(net.deep(x), h)
    assert net.deep.skips == [False, True, True]


def test_the_plain_stack_keeps_the_parameter_names_of_saved_models():
    net = TagNet(TagNetConfig(n_tags=3, n_features=N_FEATURES))
    names = [k for k in net.state_dict() if k.startswith("deep.")]
    assert names[:4] == ["deep.0.weight", "deep.0.bias", "deep.3.weight", "deep.3.bias"]
