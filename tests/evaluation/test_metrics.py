"""multilabel_metrics and per_tag_metrics against values computed by hand on a tiny example."""

from __future__ import annotations

import numpy as np
import pytest

from jobtag.evaluation.metrics import multilabel_metrics, per_tag_metrics

# 3 jobs x 3 tags; tag 2 never occurs in the truth.
Y = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=bool)
P = np.array([[1, 0, 1], [0, 1, 0], [0, 1, 0]], dtype=bool)
S = np.array([[0.9, 0.1, 0.6], [0.4, 0.8, 0.1], [0.3, 0.7, 0.2]])


def test_hand_computed_values():
    m = multilabel_metrics(Y, P, S)
    # tp=3 (j0t0, j1t1, j2t1), fp=1 (j0t2), fn=1 (j1t0)
    assert m["precision_micro"] == pytest.approx(3 / 4)
    assert m["recall_micro"] == pytest.approx(3 / 4)
    assert m["micro_f1"] == pytest.approx(6 / 8)
    # tag0: tp1 fn1 -> F1 2/3; tag1: tp2 -> 1; tag2 absent from truth: not averaged
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1) / 2)
    # jobs: j0 2*1/(1+2)=2/3, j1 2*1/(2+1)=2/3, j2 1
    assert m["samples_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    # top scores: j0 t0 (true), j1 t1 (true), j2 t1 (true)
    assert m["p_at_1"] == pytest.approx(1.0)
    assert m["hamming_loss"] == pytest.approx(2 / 9)
    assert m["binary_accuracy"] == pytest.approx(7 / 9)
    assert m["subset_accuracy"] == pytest.approx(1 / 3)
    assert m["n_tags_present"] == 2


def test_p_at_1_counts_a_wrong_top_tag():
    s = S.copy()
    s[1] = [0.1, 0.2, 0.9]  # job 1's top tag (2) is wrong
    assert multilabel_metrics(Y, P, s)["p_at_1"] == pytest.approx(2 / 3)
    assert multilabel_metrics(Y, P)["p_at_1"] is None


def test_per_tag_rows():
    rows = per_tag_metrics(Y, P, ["a", "b", "c"])
    assert [r["tag"] for r in rows] == ["a", "b", "c"]
    assert rows[0] == {
        "tag": "a",
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "support": 2,
        "predicted": 1,
    }
    assert rows[2]["support"] == 0 and rows[2]["f1"] == 0.0 and rows[2]["predicted"] == 1
    assert "per_tag" in multilabel_metrics(Y, P, S, tag_names=["a", "b", "c"])


def test_binary_accuracy_misleads_on_rare_tags():
    y = np.zeros((10, 20), dtype=bool)
    y[np.arange(10), np.arange(10)] = True
    nothing = np.zeros_like(y)
    m = multilabel_metrics(y, nothing)
    assert m["binary_accuracy"] == pytest.approx(0.95)
    assert m["micro_f1"] == 0.0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        multilabel_metrics(Y, P[:, :2])


def test_one_tag_is_still_multi_label():
    """A single tag column (a new tag scored alone) is not sklearn's binary case."""
    y = np.array([[1], [0], [1], [0]], dtype=bool)
    p = np.array([[1], [1], [0], [0]], dtype=bool)
    m = multilabel_metrics(y, p, np.array([[0.9], [0.8], [0.2], [0.1]]), tag_names=["coffee"])
    assert m["micro_f1"] == pytest.approx(0.5) and m["macro_f1"] == pytest.approx(0.5)
    # jobs: j0 1, j1 0, j2 0, j3 (nothing true, nothing predicted) 1
    assert m["samples_f1"] == pytest.approx(0.5)
    assert m["hamming_loss"] == pytest.approx(0.5) and m["subset_accuracy"] == pytest.approx(0.5)
    assert m["per_tag"] == [
        {"tag": "coffee", "precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2, "predicted": 2}
    ]
