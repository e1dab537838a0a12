"""Cross-fitted reward model q(x, a) = E[reward | x, a] for the DM and DR families."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingRegressor

from causalrx.data.feedback import BanditFeedback
from causalrx.effects.crossfit import cross_fit_predict


@dataclass
class RewardModel:
    """Regression of reward on context and drug, predicted out of fold for every drug.

    Parameters
    ----------
    regressor : scikit-learn regressor, optional
        Default: :class:`~sklearn.ensemble.HistGradientBoostingRegressor`.
    per_action : bool
        Fit one regressor per drug (on the rounds that logged it) instead of one model on
        ``[x, one-hot(a)]``.
    n_folds : int
        Cross-fitting folds: a round's prediction never comes from a model that saw it.
    random_state : int, optional
    """

    regressor: object = None
    per_action: bool = False
    n_folds: int = 5
    random_state: int | None = None

    def fit_predict(self, feedback: BanditFeedback) -> np.ndarray:
        """Out-of-fold estimated rewards, array (n, k)."""
        X, a, r, k = feedback.context, feedback.action, feedback.reward, feedback.n_actions
        regressor = self.regressor or HistGradientBoostingRegressor(max_iter=150, random_state=self.random_state)
        if self.per_action:
            out = np.empty((len(r), k))
            for action in range(k):
                rows = np.flatnonzero(a == action)
                fitted = cross_fit_predict(
                    regressor, X[rows], r[rows], lambda m, t: m.predict(X[rows][t]),
                    n_folds=self.n_folds, random_state=self.random_state,
                )  # fmt: skip
                out[rows, action] = fitted
                others = np.flatnonzero(a != action)
                out[others, action] = clone(regressor).fit(X[rows], r[rows]).predict(X[others])
            return out
        onehot = np.eye(k)[a]
        design = np.hstack([X, onehot])

        def predict(model, test):
            rows = X[test]
            return np.column_stack([model.predict(np.hstack([rows, np.tile(np.eye(k)[j], (len(rows), 1))])) for j in range(k)])

        return cross_fit_predict(regressor, design, r, predict, n_folds=self.n_folds, random_state=self.random_state, stratify=a)
