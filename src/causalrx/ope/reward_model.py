"""Cross-fitted reward model q(x, a) = E[reward | x, a] for the DM and DR families."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from causalrx.data.feedback import BanditFeedback
from causalrx.effects.outcome import cross_fit_outcomes


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
        return cross_fit_outcomes(
            feedback.context, feedback.action, feedback.reward, feedback.n_actions, self.regressor,
            per_action=self.per_action, n_folds=self.n_folds, random_state=self.random_state,
        )  # fmt: skip
