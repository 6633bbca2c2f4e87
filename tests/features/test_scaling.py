"""Tests of jobtag.features.scaling.NumericScaler."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jobtag.errors import ModelError
from jobtag.features.scaling import NumericScaler


@pytest.fixture
def data() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.gamma(2.0, 50.0, size=(300, 11)).astype(np.float32)
    x[:, 3] = 7.0  # a constant column
    return x


def test_fit_standardizes_log_counts(data):
    z = NumericScaler().fit_transform(data)
    assert z.dtype == np.float32
    assert np.allclose(z[:, [0, 1, 2]].mean(axis=0), 0, atol=1e-5)
    assert np.allclose(z[:, [0, 1, 2]].std(axis=0), 1, atol=1e-4)
    assert np.allclose(z[:, 3], 0)  # zero variance: scale 1, no division by zero


def test_partial_fit_equals_fit(data):
    full = NumericScaler().fit(data)
    inc = NumericScaler()
    for chunk in np.array_split(data, [1, 50, 51, 200]):
        inc.partial_fit(chunk)
    assert inc.n_samples_seen_ == full.n_samples_seen_ == 300
    assert np.allclose(inc.mean_, full.mean_)
    assert np.allclose(inc.scale_, full.scale_)


def test_fit_resets(data):
    scaler = NumericScaler().fit(data * 100)
    scaler.fit(data)
    assert scaler.n_samples_seen_ == 300
    assert np.allclose(scaler.mean_, NumericScaler().fit(data).mean_)


def test_to_dict_round_trip_through_json(data):
    scaler = NumericScaler().fit(data)
    state = json.loads(json.dumps(scaler.to_dict()))
    again = NumericScaler.from_dict(state)
    assert np.array_equal(again.transform(data), scaler.transform(data))
    assert NumericScaler.from_dict(NumericScaler(log=False).to_dict()).log is False


def test_errors():
    with pytest.raises(ModelError, match="not fitted"):
        NumericScaler().transform(np.zeros((1, 3)))
    with pytest.raises(ModelError, match="invalid NumericScaler state"):
        NumericScaler.from_dict({"log": True, "mean": [0.0]})
    scaler = NumericScaler().fit(np.ones((4, 3)))
    with pytest.raises(ValueError, match="fitted on 3 columns"):
        scaler.transform(np.ones((2, 4)))
    with pytest.raises(ValueError, match="2-D"):
        scaler.fit(np.ones(3))
