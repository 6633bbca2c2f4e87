"""Forward passes: codes in eval mode, scores of a net, a deep path that needs its code."""

from __future__ import annotations

import numpy as np
import pytest

from jobtag.models.autoencoder import AutoencoderConfig, ConvAutoencoder
from jobtag.models.forward import NetInputs, encode, net_logits, net_scores
from jobtag.models.tagnet import TagNet, TagNetConfig
from tests.models.synthetic import N_FEATURES, make_jobs


def test_encode_is_deterministic_and_order_free():
    batch, _ = make_jobs(12, seed=1)
    enc = ConvAutoencoder(AutoencoderConfig(n_features=N_FEATURES)).encoder
    a = encode(enc, batch.tokens, 64)
    b = encode(enc, batch.tokens[::-1], 64)[::-1]
    assert a.shape == (12, 100)
    np.testing.assert_allclose(a, b, atol=1e-5)  # eval mode: no dropout, no batch effects


def test_scores_are_order_free_and_the_deep_path_needs_codes_or_the_encoder():
    batch, _ = make_jobs(20, seed=3)
    codes = np.random.default_rng(1).normal(size=(20, 100)).astype(np.float32)
    data = NetInputs(batch.tokens, np.zeros((20, 11), np.float32), codes, None)
    net = TagNet(TagNetConfig(n_tags=3, n_features=N_FEATURES, wide=False))
    scores = net_scores(net, None, data, 64)
    assert scores.shape == (20, 3) and ((scores > 0) & (scores < 1)).all()
    rev = NetInputs(batch.tokens[::-1], data.numeric, codes[::-1].copy(), None)
    np.testing.assert_allclose(net_scores(net, None, rev, 64)[::-1], scores, atol=1e-6)
    no_codes = NetInputs(batch.tokens, data.numeric, None, None)
    with pytest.raises(ValueError, match="fixed codes or the encoder"):
        net_logits(net, None, no_codes, np.arange(4), 64)
