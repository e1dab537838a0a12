"""Interpretable policies: a policy tree or forest fitted on masked doubly robust scores.

EconML's ``DRPolicyTree`` / ``DRPolicyForest`` compute DR scores internally and then fit
``PolicyTree`` / ``PolicyForest`` on them. Here the scores come from the cross-fitting of
:func:`~causalrx.policy.base.dr_scores`, and *before* the tree is grown each masked cell
takes the score of the reference arm: a leaf that "assigns" a drug masked for some of its
patients is credited only with what those patients would really get, the reference arm
(the fallback of :func:`causalrx.safety.restrict`). So the tree maximises the welfare of
the masked policy it will become; at prediction time each patient gets the best *allowed*
drug by the leaf's values, never a masked one.

References
----------
Athey S, Wager S. Policy learning with observational data. Econometrica 2021;89(1):133-161.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from causalrx.policy.base import PolicyBase, as_covariates, as_mask, masked_dr_inputs, reference_column
from causalrx.safety.scores import masked_greedy


def masked_scores(gamma: np.ndarray, mask: np.ndarray, reference: int) -> np.ndarray:
    """DR scores where a masked drug is worth the score of the reference arm (column ``reference``): what the patient would get instead."""
    return np.where(mask, gamma, gamma[:, [reference]])


@dataclass(repr=False, eq=False)
class PolicyTreeLearner(PolicyBase):
    """Policy tree (``forest=False``) or policy forest on masked DR scores (EconML).

    Parameters
    ----------
    max_depth : int
        Depth of the tree(s); 2-3 keeps a tree readable.
    min_samples_leaf : int
    forest : bool
        Fit a :class:`econml.policy.PolicyForest` of ``n_estimators`` trees instead of one tree.
    honest : bool
        Honest trees (half the sample places splits, the other half sets leaf values).
    n_folds : int
        Cross-fitting folds of the DR scores' nuisance models.
    random_state : int, optional
    """

    max_depth: int = 3
    min_samples_leaf: int = 20
    forest: bool = False
    n_estimators: int = 100
    honest: bool = True
    n_folds: int = 5
    random_state: int | None = None

    def fit(self, X, action, reward, *, mask=None, propensity=None, n_actions: int | None = None, action_names=None,
            reference=None):  # fmt: skip
        """Learn the tree on covariates X, logged drug, reward and the mask of every patient (or a DecisionProblem).

        ``reference`` (name or column, default the first drug) is the arm a masked cell is worth.
        """
        from econml.policy import PolicyForest, PolicyTree

        X, allowed, gamma, k = masked_dr_inputs(X, action, reward, mask, propensity, n_actions, n_folds=self.n_folds,
                                                random_state=self.random_state)  # fmt: skip
        common = dict(max_depth=self.max_depth, min_samples_leaf=self.min_samples_leaf, honest=self.honest, random_state=self.random_state)
        model = PolicyForest(n_estimators=self.n_estimators, **common) if self.forest else PolicyTree(**common)
        ref = reference_column(reference, action_names, k)
        self.model_ = model.fit(X, masked_scores(gamma, allowed, ref))
        self.n_actions_ = k
        return self

    def values(self, X) -> np.ndarray:
        """The leaf values of every drug, (n, k) (forest: averaged over trees)."""
        self._require_fit()
        return self.model_.predict_value(as_covariates(X))

    def action_dist(self, X, mask=None) -> np.ndarray:
        values = self.values(X)
        return masked_greedy(values, as_mask(mask, *values.shape))

    def plot(self, feature_names=None, action_names=None, max_depth: int | None = None):
        """Matplotlib figure of the (single) tree."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        self._require_fit()
        model = self.model_ if not self.forest else self.model_.estimators_[0]
        fig = plt.figure(figsize=(12, 6))
        model.plot(feature_names=feature_names, treatment_names=action_names, max_depth=max_depth)
        fig.text(0.01, 0.01, "Decision support only; not a prescription.", fontsize=7, color="grey")
        return fig
