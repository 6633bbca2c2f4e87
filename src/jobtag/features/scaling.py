"""Scaling of the numeric feature block: log1p, then standardization (incrementally fitted)."""

from __future__ import annotations

from typing import Any

import numpy as np

from jobtag.errors import ModelError


class NumericScaler:
    """log1p then (x - mean_) / scale_, per column; mean/variance accumulate over `partial_fit`s.

    Counts are heavy-tailed, hence the log. Fitted attributes: `mean_`, `var_`, `scale_`,
    `n_samples_seen_`. Columns with zero variance get scale 1. Negative inputs are clipped to 0.
    """

    def __init__(self, log: bool = True) -> None:
        self.log = log

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"NumericScaler expects a 2-D array, got shape {X.shape}")
        return np.log1p(np.maximum(X, 0.0)) if self.log else X

    def fit(self, X: np.ndarray, y: object = None) -> NumericScaler:
        for attr in ("mean_", "var_", "scale_", "n_samples_seen_"):
            self.__dict__.pop(attr, None)
        return self.partial_fit(X)

    def partial_fit(self, X: np.ndarray, y: object = None) -> NumericScaler:
        Z = self._prepare(X)
        n = Z.shape[0]
        if n == 0:
            return self
        batch_mean = Z.mean(axis=0)
        batch_var = Z.var(axis=0)
        if not hasattr(self, "n_samples_seen_"):
            self.mean_, self.var_, self.n_samples_seen_ = batch_mean, batch_var, n
        else:
            if Z.shape[1] != self.mean_.shape[0]:
                raise ValueError(
                    f"NumericScaler fitted on {self.mean_.shape[0]} columns, got {Z.shape[1]}"
                )
            m = self.n_samples_seen_
            total = m + n
            delta = batch_mean - self.mean_
            # Chan et al. parallel update of mean and (population) variance.
            m2 = self.var_ * m + batch_var * n + delta**2 * m * n / total
            self.mean_ = self.mean_ + delta * n / total
            self.var_ = m2 / total
            self.n_samples_seen_ = total
        scale = np.sqrt(self.var_)
        self.scale_ = np.where(scale > 1e-12, scale, 1.0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "mean_"):
            raise ModelError("NumericScaler is not fitted yet (call fit or partial_fit first)")
        Z = self._prepare(X)
        if Z.shape[1] != self.mean_.shape[0]:
            raise ValueError(
                f"NumericScaler fitted on {self.mean_.shape[0]} columns, got {Z.shape[1]}"
            )
        return ((Z - self.mean_) / self.scale_).astype(np.float32)

    def fit_transform(self, X: np.ndarray, y: object = None) -> np.ndarray:
        return self.fit(X).transform(X)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON state (lists of floats) for a model checkpoint's config."""
        if not hasattr(self, "mean_"):
            return {"log": self.log}
        return {
            "log": self.log,
            "mean": self.mean_.tolist(),
            "var": self.var_.tolist(),
            "n_samples_seen": int(self.n_samples_seen_),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NumericScaler:
        """Rebuild a scaler saved with `to_dict`."""
        try:
            scaler = cls(log=bool(data["log"]))
            if "mean" in data:
                scaler.mean_ = np.asarray(data["mean"], dtype=np.float64)
                scaler.var_ = np.asarray(data["var"], dtype=np.float64)
                scaler.n_samples_seen_ = int(data["n_samples_seen"])
                if scaler.mean_.shape != scaler.var_.shape:
                    raise ValueError("mean and var lengths differ")
                scale = np.sqrt(scaler.var_)
                scaler.scale_ = np.where(scale > 1e-12, scale, 1.0)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"invalid NumericScaler state: {exc}") from exc
        return scaler
