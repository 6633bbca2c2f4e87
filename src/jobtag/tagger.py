"""Deprecated alias of jobtag.app (the facade moved there): importing it warns and re-exports."""

from __future__ import annotations

import warnings

from jobtag.app import Prediction, Tagger, TrainResult
from jobtag.evaluation.metrics import headline_metrics
from jobtag.records import make_job

warnings.warn(
    "jobtag.tagger is deprecated: import Tagger from jobtag.app (make_job from jobtag.records)",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["Prediction", "Tagger", "TrainResult", "headline_metrics", "make_job"]
