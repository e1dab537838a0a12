"""Split-conformal prediction sets for a classifier's predicted probabilities."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from causalrx.exceptions import ValidationError


def _as_matrix(p) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    if p.ndim == 1:
        p = np.column_stack([1 - p, p])
    if p.ndim != 2 or p.shape[1] < 2 or not np.isfinite(p).all():
        raise ValidationError(f"p: expected probabilities of shape (n,) or (n, n_classes), got shape {p.shape}")
    return p


class SplitConformalClassifier(BaseEstimator):
    """Prediction sets with finite-sample marginal coverage ``>= 1 - alpha``.

    The non-conformity score is ``1 - p_true`` (least ambiguous set-valued classifier);
    its ``ceil((m + 1)(1 - alpha)) / m`` empirical quantile on ``m`` calibration patients
    is the threshold ``q``, and the set of a new patient is ``{c : 1 - p_c <= q}``.
    ``mondrian=True`` computes one threshold per class (class-conditional coverage).
    Calibration patients must not have trained the model.

    References
    ----------
    Vovk V, Gammerman A, Shafer G. Algorithmic Learning in a Random World. Springer 2005.
    Sadinle M, Lei J, Wasserman L. Least ambiguous set-valued classifiers with bounded
    error levels. JASA 2019;114:223-234.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(size=3000); y = (rng.uniform(size=3000) < p).astype(int)
    >>> conf = SplitConformalClassifier(alpha=0.1).fit(p[:1500], y[:1500])
    >>> sets = conf.predict_sets(p[1500:])
    >>> bool(abs(sets[np.arange(1500), y[1500:]].mean() - 0.9) < 0.03)
    True
    """

    def __init__(self, alpha: float = 0.1, mondrian: bool = False) -> None:
        self.alpha = alpha
        self.mondrian = mondrian

    def fit(self, p, y) -> SplitConformalClassifier:
        if not 0 < self.alpha < 1:
            raise ValidationError(f"alpha: expected a miscoverage level in (0, 1), got {self.alpha!r}")
        p = _as_matrix(p)
        y = np.asarray(y)
        if len(y) != len(p) or not np.isin(y, np.arange(p.shape[1])).all():
            raise ValidationError(f"y: expected one class label in 0..{p.shape[1] - 1} per row of p")
        y = y.astype(int)
        scores = 1.0 - p[np.arange(len(y)), y]
        groups = [np.flatnonzero(y == c) for c in range(p.shape[1])] if self.mondrian else [np.arange(len(y))]
        self.quantile_ = np.array([self._threshold(scores[g]) for g in groups])
        self.n_classes_ = p.shape[1]
        return self

    def _threshold(self, s: np.ndarray) -> float:
        m = len(s)
        level = np.ceil((m + 1) * (1 - self.alpha)) / m
        if level > 1:
            raise ValidationError(f"calibration set: {m} patient(s) are too few for alpha={self.alpha} (need >= {int(np.ceil(1 / self.alpha)) - 1})")
        return float(np.quantile(s, level, method="higher"))

    def predict_sets(self, p) -> np.ndarray:
        """Boolean ``(n, n_classes)``: True where the class is in the patient's set."""
        if not hasattr(self, "quantile_"):
            raise ValidationError("SplitConformalClassifier: call fit before predict_sets")
        p = _as_matrix(p)
        if p.shape[1] != self.n_classes_:
            raise ValidationError(f"p: expected {self.n_classes_} classes, got {p.shape[1]}")
        q = self.quantile_ if self.mondrian else np.full(self.n_classes_, self.quantile_[0])
        return (1.0 - p) <= q[None, :]

    def coverage(self, p, y) -> dict[str, float]:
        """Empirical coverage and mean set size on labelled patients."""
        sets = self.predict_sets(p)
        y = np.asarray(y).astype(int)
        return {"coverage": float(sets[np.arange(len(y)), y].mean()), "mean_set_size": float(sets.sum(axis=1).mean())}
