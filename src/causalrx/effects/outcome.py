"""Cross-fitted outcome model q(x, a) = E[y | x, a], predicted out of fold for every drug.

Shared by AIPW here and by the reward models of :mod:`causalrx.ope`.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingRegressor

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
