"""Multinomial propensity model for k drugs: cross-fitted, calibrated, clipped away from 0."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from causalrx.effects.crossfit import cross_fit_predict, make_folds, make_group_folds
from causalrx.exceptions import ValidationError


def default_classifier():
    """Standardised multinomial logistic regression: the default propensity classifier."""
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def cross_validated_classifier(n_folds: int = 3):
    """Standardised multinomial logistic regression whose L2 penalty is chosen by cross-validated
    log loss (``LogisticRegressionCV``, C in 1e-3 ... 10, ``n_folds`` stratified folds).

    Chosen by held-out log loss, the probabilities need no calibration afterwards: use it as
    ``PropensityModel(classifier=cross_validated_classifier(), calibration=None)``. With about 200
    covariates the default (C = 1, then sigmoid calibration one drug against the rest) shrinks
    the probabilities toward the drugs' overall shares and leaves part of the confounding in
    AIPW's estimates; this model leaves less (``benchmarks/bench_propensity_calibration.py``,
    ``benchmarks/bench_autoimmune.py``), at wider intervals and about four times the fitting time.
    """
    options = {"Cs": np.logspace(-3, 1, 9), "cv": n_folds, "scoring": "neg_log_loss", "max_iter": 2000}
    accepted = inspect.signature(LogisticRegressionCV).parameters
    if "use_legacy_attributes" in accepted:  # scikit-learn >= 1.8: plain L2 stated, new attributes
        options.update(l1_ratios=(0.0,), use_legacy_attributes=False)
    return make_pipeline(StandardScaler(), LogisticRegressionCV(**options))


CALIBRATIONS = (None, "sigmoid", "temperature", "isotonic")


def _check_calibration(calibration) -> None:
    if calibration not in CALIBRATIONS:
        raise ValidationError(f"calibration: expected one of {CALIBRATIONS}, got {calibration!r}")
    if calibration == "temperature":
        import sklearn
        from sklearn.utils.fixes import parse_version

        if parse_version(sklearn.__version__) < parse_version("1.8"):
            raise ValidationError(f"calibration: 'temperature' needs scikit-learn >= 1.8, this is {sklearn.__version__}")


@dataclass
class PropensityModel:
    """Out-of-fold estimates of P(drug = a | x) for every drug.

    Parameters
    ----------
    classifier : scikit-learn classifier, optional
        Any classifier with ``predict_proba``; default: standardised multinomial logistic
        regression (C = 1). :func:`cross_validated_classifier` chooses the penalty by held-out
        log loss; with ``calibration=None`` it covers more often than the default under strong
        confounding (see its docstring).
    calibration : {"sigmoid", "temperature", "isotonic", None}
        Calibrate the classifier's probabilities within each training fold
        (:class:`~sklearn.calibration.CalibratedClassifierCV`). ``"sigmoid"`` (default)
        calibrates k > 2 drugs one against the rest and renormalises; ``"temperature"`` fits
        one softmax temperature and keeps the multinomial structure. Neither gives AIPW
        nominal coverage under strong confounding; temperature scaling covers more often there,
        at a larger error in some settings, and no calibration covers only through intervals
        10 to 55 times wider (``benchmarks/bench_propensity_calibration.py``).
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

    def fit_predict(self, X: np.ndarray, action: np.ndarray, n_actions: int, *, groups: np.ndarray | None = None) -> np.ndarray:
        """Cross-fitted probabilities, array (n, n_actions); sets ``n_clipped_``.

        ``groups`` (n,) keeps the rows of one unit together: with episodes as groups, every
        step of an episode is predicted by a model that saw none of that episode's steps.
        """
        _check_calibration(self.calibration)
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

        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape != (len(action),):
                raise ValidationError(f"groups: expected one group label per row ({len(action)},), got shape {groups.shape}")
            folds = make_group_folds(groups, self.n_folds, self.random_state)
        else:
            folds = make_folds(len(action), self.n_folds, self.random_state, stratify=action)
        proba = cross_fit_predict(model, X, action, predict, folds=folds)
        low = proba < self.clip
        self.n_clipped_ = int(low.sum())
        proba = np.where(low, self.clip, proba)
        return proba / proba.sum(axis=1, keepdims=True)
