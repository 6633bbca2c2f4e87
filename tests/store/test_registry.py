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
