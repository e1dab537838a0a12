"""The best single drug for everyone where allowed: the trivial rule a learned policy has to beat.

Its drug is chosen without ground truth, by the cross-fitted doubly robust estimate of the
value of "this drug wherever the mask allows it, else the reference arm" (the mean of the
masked DR scores' column, :func:`causalrx.policy.base.dr_scores`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from causalrx.policy.base import PolicyBase, as_covariates, as_mask, masked_dr_inputs, reference_column
from causalrx.policy.tree import masked_scores
from causalrx.safety.scores import masked_greedy


@dataclass(repr=False, eq=False)
class BestSingleDrugPolicy(PolicyBase):
    """One drug for every patient whom the mask allows it, the reference arm for the others.

    After ``fit``: ``values_`` (the DR estimate of each drug's "wherever allowed, else the
    reference arm" policy, in the fitted drug order) and ``drug_index_`` (the best of them).

    Parameters
    ----------
    n_folds : int
        Cross-fitting folds of the DR scores' nuisance models.
    random_state : int, optional
    """

    n_folds: int = 5
    random_state: int | None = None

    def fit(self, X, action, reward, *, mask=None, propensity=None, n_actions: int | None = None, action_names=None,
            reference=None):  # fmt: skip
        """Estimate every single-drug policy's value on covariates X, logged drug, reward and mask (or a DecisionProblem).

        ``reference`` (name or column, default the first drug) is what a patient gets when
        the chosen drug is masked for them.
        """
        X, allowed, gamma, k = masked_dr_inputs(X, action, reward, mask, propensity, n_actions, n_folds=self.n_folds,
                                                random_state=self.random_state)  # fmt: skip
        self.reference_index_ = reference_column(reference, action_names, k)
        self.values_ = masked_scores(gamma, allowed, self.reference_index_).mean(axis=0)
        self.drug_index_ = int(np.argmax(self.values_))
        self.n_actions_ = k
        return self

    def action_dist(self, X, mask=None) -> np.ndarray:
        """The chosen drug where allowed, else the reference arm (else, if that is masked too, the best allowed by ``values_``)."""
        self._require_fit()
        n = len(as_covariates(X))
        score = np.tile(self.values_ - self.values_.max() - 1.0, (n, 1))  # below both preferred arms, in estimated order
        score[:, self.reference_index_] = 1.0
        score[:, self.drug_index_] = 2.0
        return masked_greedy(score, as_mask(mask, n, self.n_actions_))
