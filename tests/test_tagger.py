"""jobtag.tagger: the deprecated alias of jobtag.app warns and re-exports the facade."""

from __future__ import annotations

import importlib
import sys

import pytest

import jobtag.app
import jobtag.records


def test_the_old_module_warns_and_re_exports(monkeypatch):
    monkeypatch.delitem(sys.modules, "jobtag.tagger", raising=False)
    with pytest.warns(DeprecationWarning, match="jobtag.app"):
        old = importlib.import_module("jobtag.tagger")
    assert old.Tagger is jobtag.app.Tagger and old.Prediction is jobtag.app.Prediction
    assert old.make_job is jobtag.records.make_job
