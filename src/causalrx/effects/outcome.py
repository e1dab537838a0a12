"""Cross-fitted outcome model q(x, a) = E[y | x, a], predicted out of fold for every drug.

Shared by AIPW here and by the reward models of :mod:`causalrx.ope`.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from causalrx.effects.crossfit import cross_fit_predict


def default_regressor(random_state=None):
    return HistGradientBoostingRegressor(max_iter=150, random_state=random_state)


def cross_fit_outcomes(X, action, y, n_actions, regressor=None, *, per_action=False, n_folds=5, random_state=None) -> np.ndarray:
    """Out-of-fold predictions of the outcome under every drug, array (n, n_actions).

    ``per_action=False`` fits one regressor on ``[x, one-hot(a)]``; ``True`` fits one per
    drug on the patients who received it (a T-learner), predicting the others out of sample.
    """
    regressor = regressor or default_regressor(random_state)
    k = n_actions
    if per_action:
        out = np.empty((len(y), k))
        for a in range(k):
            rows = np.flatnonzero(action == a)
            Xa = X[rows]
            out[rows, a] = cross_fit_predict(regressor, Xa, y[rows], lambda m, t: m.predict(Xa[t]), n_folds=n_folds, random_state=random_state)
            others = np.flatnonzero(action != a)
            out[others, a] = clone(regressor).fit(Xa, y[rows]).predict(X[others])
        return out
    design = np.hstack([X, np.eye(k)[action]])

    def predict(model, test):
        rows = X[test]
        return np.column_stack([model.predict(np.hstack([rows, np.tile(np.eye(k)[j], (len(rows), 1))])) for j in range(k)])

    return cross_fit_predict(regressor, design, y, predict, n_folds=n_folds, random_state=random_state, stratify=action)


class ARDGaussianProcess(RegressorMixin, BaseEstimator):
    """Gaussian-process regression with one RBF length scale per (standardised) covariate.

    Kernel ``c * RBF(l_1..l_d) + white noise``, hyperparameters by maximum marginal
    likelihood. A strong outcome model for small cohorts (hundreds to a few thousand
    patients; cost grows as n^3), e.g. inside a T-learner. Use it where boosting needs more
    data than there is.
    """

    def __init__(self, length_scale: float = 3.0, random_state=None):
        self.length_scale = length_scale
        self.random_state = random_state

    def fit(self, X, y):
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, WhiteKernel
        from sklearn.gaussian_process.kernels import ConstantKernel as C

        X = np.asarray(X, dtype=float)
        self.scaler_ = StandardScaler().fit(X)
        kernel = C(1.0) * RBF(np.full(X.shape[1], self.length_scale), length_scale_bounds=(1e-1, 1e3)) + WhiteKernel(0.1)
        self.gp_ = GaussianProcessRegressor(kernel, normalize_y=True, random_state=self.random_state)
        with warnings.catch_warnings():
            # irrelevant covariates reach the length-scale bound: that is ARD pruning them, not a failure
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.gp_.fit(self.scaler_.transform(X), np.asarray(y, dtype=float))
        return self

    def predict(self, X):
        return self.gp_.predict(self.scaler_.transform(np.asarray(X, dtype=float)))
