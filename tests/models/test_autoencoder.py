"""The convolutional autoencoder: shapes, the 100-d code, and a falling reconstruction loss."""

from __future__ import annotations

import numpy as np
import torch

from jobtag.models.autoencoder import AutoencoderConfig, ConvAutoencoder, dense_rows
from jobtag.models.forward import encode
from jobtag.models.inputs import padded
from jobtag.training.epochs import ae_epoch
from tests.models.synthetic import N_FEATURES, make_jobs


def test_shapes_and_100d_code():
    torch.manual_seed(0)
    ae = ConvAutoencoder(AutoencoderConfig(n_features=N_FEATURES))
    batch, _ = make_jobs(5)
    tok = torch.from_numpy(padded(batch.tokens, 64))
    code, logits = ae(tok)
    assert code.shape == (5, 100)
    assert logits.shape == (5, N_FEATURES)
    assert (logits[:, 0] < -1e3).all()  # padding bucket is never reconstructed
    assert encode(ae.encoder, batch.tokens, 64).shape == (5, 100)


def test_padding_does_not_change_the_code():
    torch.manual_seed(0)
    ae = ConvAutoencoder(AutoencoderConfig(n_features=N_FEATURES)).eval()
    tok = torch.tensor([[5, 6, 7, 0, 0, 0]])
    with torch.no_grad():
        a = ae.encoder(tok)
        b = ae.encoder(tok[:, :3])
    torch.testing.assert_close(a, b)


def test_loss_falls_on_a_tiny_set():
    torch.manual_seed(0)
    batch, _ = make_jobs(64)
    ae = ConvAutoencoder(AutoencoderConfig(n_features=N_FEATURES, dropout=0.0))
    ae.init_prior(batch.bag)
    tok = torch.from_numpy(padded(batch.tokens, 64))
    with torch.no_grad():
        before = float(ae.loss(tok, dense_rows(batch.bag)))
    opt = torch.optim.Adam(ae.parameters(), lr=5e-3)
    rng = np.random.default_rng(0)
    for _ in range(15):
        ae_epoch(ae, batch.tokens, batch.bag, opt, batch_size=16, max_tokens=64, rng=rng)
    with torch.no_grad():
        after = float(ae.loss(tok, dense_rows(batch.bag)))
    assert after < before - 0.05
