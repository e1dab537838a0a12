"""Effect-greedy policy: the allowed drug with the largest estimated net benefit."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.base import clone

from causalrx.data.utility import Utility
from causalrx.effects import DRLearner, EffectEstimate, net_benefit
from causalrx.exceptions import ValidationError
from causalrx.policy.base import PolicyBase, as_covariates, as_mask, check_logged
from causalrx.safety.scores import masked_greedy

UNCERTAIN = -1e12  # score of a drug whose benefit bound misses the margin: below any real effect, above a masked drug


@dataclass(repr=False, eq=False)
class EffectGreedyPolicy(PolicyBase):
    """Prescribe ``argmax_a`` of the estimated net benefit of drug ``a`` over the reference arm, among allowed drugs.

    Parameters
    ----------
    estimator : EffectEstimator, optional
        Any :mod:`causalrx.effects` estimator (copied, then fitted); default a forest
        :class:`~causalrx.effects.DRLearner`. It estimates effects on the reward, or on
        efficacy when ``fit`` gets ``adverse_event``.
    adverse_estimator : EffectEstimator, optional
        Estimator of effects on the adverse event when ``fit`` gets ``adverse_event``
        (default: a copy of ``estimator``); the two combine by ``utility`` into the net
        benefit (:func:`causalrx.effects.net_benefit`).
    utility : Utility
    margin : float, optional
        Prescribe a drug other than the reference only when the *lower* interval bound of
        its net benefit exceeds ``margin`` (a cautious policy); otherwise the point estimate
        decides.
    random_state : int, optional
        Seed of the default estimator.
    """

    estimator: object = None
    adverse_estimator: object = None
    utility: Utility = field(default_factory=Utility)
    margin: float | None = None
    random_state: int | None = None

    def fit(self, X, action, reward, *, adverse_event=None, n_actions: int | None = None, mask=None, action_names=None,
            reference=None):  # fmt: skip
        """Fit the effect estimator(s) on covariates X (out-of-fold embeddings), logged drug and reward, or a DecisionProblem.

        ``mask`` is not needed to learn effects; it is applied whenever the policy chooses.
        ``reference`` names the reference arm (or gives its column; default the first drug).
        """
        X, action, reward, k = check_logged(X, action, reward, n_actions)
        names = tuple(action_names) if action_names is not None else tuple(f"drug_{j}" for j in range(k))
        ref = reference if reference is None or isinstance(reference, str) else names[int(reference)]
        base = self.estimator if self.estimator is not None else DRLearner(random_state=self.random_state)
        self.estimator_ = clone(base).fit(X, action, reward, action_names=names, reference=ref)
        self.adverse_estimator_ = None
        if adverse_event is not None:
            adverse = check_logged(X, action, adverse_event, k)[2]
            model = self.adverse_estimator if self.adverse_estimator is not None else base
            self.adverse_estimator_ = clone(model).fit(X, action, adverse, action_names=names, reference=ref)
        self.n_actions_ = k
        return self

    def effects(self, X) -> EffectEstimate:
        """Estimated net benefit of every drug versus the reference arm for the patients X (fitted drug order)."""
        self._require_fit()
        X = as_covariates(X)
        est = self.estimator_.effect(X)
        if self.adverse_estimator_ is not None:
            est = net_benefit(est, self.adverse_estimator_.effect(X), self.utility)
        return est

    def _point(self, X) -> np.ndarray | None:
        models = [m for m in (self.estimator_, self.adverse_estimator_) if m is not None]
        if not all(hasattr(m, "point_effect") for m in models):
            return None
        ite = self.estimator_.point_effect(X)
        if self.adverse_estimator_ is not None:
            ite = ite - self.utility.harm_weight * self.adverse_estimator_.point_effect(X)
        return ite

    def scores(self, X) -> np.ndarray:
        """The score the policy maximises, (n, k): the net benefit, or the margin-filtered one."""
        if self.margin is None:
            self._require_fit()
            point = self._point(as_covariates(X))
            if point is not None:
                return point
        est = self.effects(X)
        score = est.ite.copy()
        if self.margin is not None:
            ref = est.reference_index
            if np.isnan(np.delete(est.lower, ref, axis=1)).any():
                raise ValidationError(f"margin: the estimator {est.method!r} gives no intervals; choose one that does or set margin=None")
            sure = est.lower > self.margin
            sure[:, ref] = True
            score = np.where(sure, score, UNCERTAIN + score)
        return score

    def action_dist(self, X, mask=None) -> np.ndarray:
        score = self.scores(X)
        return masked_greedy(score, as_mask(mask, *score.shape))
