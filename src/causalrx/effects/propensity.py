"""Multinomial propensity model for k drugs: cross-fitted, calibrated, clipped away from 0."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from causalrx.effects.crossfit import cross_fit_predict
from causalrx.exceptions import ValidationError


def default_classifier():
    """Standardised multinomial logistic regression: the default propensity classifier."""
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


@dataclass
class PropensityModel:
    """Out-of-fold estimates of P(drug = a | x) for every drug.

    Parameters
    ----------
    classifier : scikit-learn classifier, optional
        Any classifier with ``predict_proba``; default: standardised multinomial logistic
        regression.
    calibration : {"sigmoid", "isotonic", None}
        Calibrate the classifier's probabilities within each training fold
        (:class:`~sklearn.calibration.CalibratedClassifierCV`).
    n_folds : int
        Cross-fitting folds.
    clip : float
        Lower bound applied to every probability (rows renormalised) so no weight is infinite;
        how many cells were clipped is kept in ``n_clipped_``.
    random_state : int, optional
    """

    classifier: object = None
    calibration: str | None = "sigmoid"
    n_folds: int = 5
    clip: float = 1e-3
    random_state: int | None = None

    def fit_predict(self, X: np.ndarray, action: np.ndarray, n_actions: int) -> np.ndarray:
        """Cross-fitted probabilities, array (n, n_actions); sets ``n_clipped_``."""
        counts = np.bincount(action, minlength=n_actions)
        if (counts == 0).any():
            raise ValidationError(
                f"action: drug(s) {np.flatnonzero(counts == 0).tolist()} were never prescribed, so their "
                "propensity cannot be estimated; drop them from the target policy's support"
            )
        base = self.classifier or default_classifier()
        model = CalibratedClassifierCV(base, method=self.calibration, cv=3) if self.calibration else base

        def predict(fitted, test):
            proba = np.zeros((len(test), n_actions))
            proba[:, fitted.classes_] = fitted.predict_proba(X[test])
            return proba

        proba = cross_fit_predict(model, X, action, predict, n_folds=self.n_folds, random_state=self.random_state, stratify=action)
        low = proba < self.clip
        self.n_clipped_ = int(low.sum())
        proba = np.where(low, self.clip, proba)
        return proba / proba.sum(axis=1, keepdims=True)
