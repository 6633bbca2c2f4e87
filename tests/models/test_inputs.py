"""Model inputs: the bag weighting is sklearn's sublinear smoothed TF-IDF, padding, bag tensors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfTransformer

from jobtag.models.inputs import BagWeighting, bag_inputs, padded


def _bag() -> sp.csr_matrix:
    rng = np.random.default_rng(0)
    dense = rng.poisson(0.6, size=(30, 40)).astype(np.float32)
    dense[3] = 0  # an empty job stays empty
    return sp.csr_matrix(dense)


def test_bag_weighting_matches_sklearn_tfidf():
    bag = _bag()
    ours = BagWeighting().fit(bag).transform(bag)
    ref = TfidfTransformer(sublinear_tf=True, smooth_idf=True, norm="l2").fit_transform(bag)
    np.testing.assert_allclose(ours.toarray(), ref.toarray(), rtol=1e-5, atol=1e-6)
    assert ours.dtype == np.float32 and ours[3].nnz == 0


def test_bag_weighting_must_be_fitted():
    with pytest.raises(RuntimeError, match="not fitted"):
        BagWeighting().transform(_bag())


def test_padded_rounds_up_to_32_and_cuts_at_max_len():
    tokens = [np.arange(1, 6), np.arange(1, 40)]
    out = padded(tokens, 256)
    assert out.shape == (2, 64) and out.dtype == np.int64
    assert out[0, :5].tolist() == [1, 2, 3, 4, 5] and (out[0, 5:] == 0).all()
    assert padded(tokens, 16).shape == (2, 16)
    assert padded([], 64).shape == (0, 32)


def test_bag_inputs_are_embedding_bag_offsets():
    bag = sp.csr_matrix(np.array([[0, 2.0, 0], [1.0, 0, 3.0]], np.float32))
    idx, offsets, weights = bag_inputs(bag)
    assert idx.tolist() == [1, 0, 2] and offsets.tolist() == [0, 1]
    assert weights.tolist() == [2.0, 1.0, 3.0]
