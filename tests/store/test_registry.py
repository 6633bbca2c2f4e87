"""Model versions: register, promote, roll back, and clear errors for unknown versions."""

from __future__ import annotations

import numpy as np
import pytest

from jobtag.errors import InputError, NotFound


def test_register_promote_and_rollback_walk_back(store):
    assert store.active_model() is None and store.list_models() == []
    with pytest.raises(NotFound, match="no active model"):
        store.rollback()
    with pytest.raises(InputError, match="model status must be one of"):
        store.register_model("/m", {}, status="best")
    v1 = store.register_model("/m/1", {"micro_f1": 0.8}, status="active", note="first")
    v2 = store.register_model("/m/2", {"micro_f1": np.float32(0.5), "per_tag": np.array([1, 2])})
    assert (v1, v2) == (1, 2)
    assert store.active_model().version == 1 and store.get_model(2).status == "candidate"
    assert store.get_model(1).metrics == {"micro_f1": 0.8} and store.get_model(1).note == "first"
    assert store.get_model(2).metrics == {"micro_f1": 0.5, "per_tag": [1, 2]}
    store.promote(2)
    v3 = store.register_model("/m/3", {"micro_f1": 0.85})
    store.promote(v3)
    assert [m.status for m in store.list_models()] == ["retired", "retired", "active"]
    assert store.rollback().version == 2
    assert store.rollback().version == 1
    with pytest.raises(NotFound, match="nothing to roll back to"):
        store.rollback()
    assert store.active_model().version == 1
    store.set_model_note(3, "worse on validation", {"micro_f1": 0.7})
    assert store.get_model(3).note == "worse on validation"


def test_unknown_versions(store):
    with pytest.raises(NotFound, match="no model version 7"):
        store.promote(7)
    with pytest.raises(NotFound, match="no model version 7"):
        store.get_model(7)
    with pytest.raises(NotFound, match="no model version 7"):
        store.set_model_note(7, "x")


def test_prune_keeps_the_active_the_newest_rollback_targets_and_candidates(store):
    for v in range(1, 9):  # v1..v4 promoted in turn, v5..v8 candidates
        store.register_model(f"/m/{v}", {}, status="active" if v <= 4 else "candidate")
    pruned = store.prune_models(keep=2)
    assert [m.version for m in pruned] == [1, 5, 6]  # rollback targets 3, 2; candidates 8, 7
    assert all(store.get_model(v).pruned for v in (1, 5, 6))
    assert not any(store.get_model(v).pruned for v in (2, 3, 4, 7, 8))
    assert store.get_model(1).status == "retired" and store.get_model(1).promoted_at is None
    assert store.prune_models(keep=2) == []  # already pruned: not again
    with pytest.raises(InputError, match="its files were pruned"):
        store.promote(5)
    assert store.rollback().version == 3
    assert store.rollback().version == 2
    with pytest.raises(NotFound, match="nothing to roll back to"):
        store.rollback()  # v1 left the chain with its files
