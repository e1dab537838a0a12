"""Recalibration of predicted risks on a held-out split: Platt scaling or isotonic regression."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from causalrx.exceptions import ValidationError
from causalrx.risk.metrics import check_binary

EPS = 1e-6


class RiskCalibrator(BaseEstimator):
    """Map raw risks to calibrated risks, fitted on patients the risk model did not train on.

    Parameters
    ----------
    method : {"platt", "isotonic"}
        Platt: logistic regression on ``logit(p)`` (two parameters, smooth, safe for small
        calibration sets); isotonic: a monotone step function (more flexible, needs more
        patients).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> true = rng.uniform(0.05, 0.6, 2000); raw = true ** 0.5
    >>> y = (rng.uniform(size=2000) < true).astype(int)
    >>> cal = RiskCalibrator("platt").fit(raw, y)
    >>> bool(abs(cal.predict(raw).mean() - y.mean()) < 0.01)
    True
    """

    def __init__(self, method: str = "platt") -> None:
        self.method = method

    def fit(self, p, y) -> RiskCalibrator:
        if self.method not in ("platt", "isotonic"):
            raise ValidationError(f"method: expected 'platt' or 'isotonic', got {self.method!r}")
        y, p = check_binary(y, p)
        if self.method == "platt":
            self.model_ = LogisticRegression(C=1e6).fit(logit(np.clip(p, EPS, 1 - EPS))[:, None], y)
        else:
            self.model_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
        return self

    def predict(self, p) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise ValidationError("RiskCalibrator: call fit before predict")
        p = np.asarray(p, dtype=float)
        if self.method == "platt":
            z = logit(np.clip(p, EPS, 1 - EPS))
            return expit(self.model_.intercept_[0] + self.model_.coef_[0, 0] * z)
        return self.model_.predict(p)
