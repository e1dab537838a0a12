"""The policy contract, its input gate, persistence and the DR scores that learners share.

A policy maps covariates (usually out-of-fold embeddings ``Z``) and a safety mask to a
distribution over the k drugs. Rules every policy follows:

1. ``action_dist(Z, mask)`` puts probability exactly 0 on masked drugs (``mask`` is a bool
   ``(n, k)`` array, True = allowed, or a :class:`causalrx.safety.Mask`; ``None`` allows
   every drug). Learners also see the mask while they learn, so a masked drug is never
   what they were trained to pick.
2. ``predict(Z, mask)`` is the most probable allowed drug per row.
3. ``save(path)`` / ``load(path)`` round-trip a fitted policy (:func:`causalrx.data.storage.save_object`; load only files you trust).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from causalrx.data.feedback import check_context, check_finite_vector, check_mask
from causalrx.data.storage import load_object, save_object
from causalrx.effects.outcome import cross_fit_outcomes
from causalrx.effects.propensity import PropensityModel
from causalrx.exceptions import ValidationError


@runtime_checkable
class Policy(Protocol):
    """What every policy of :mod:`causalrx.policy` provides."""

    def action_dist(self, Z, mask=None) -> np.ndarray: ...

    def predict(self, Z, mask=None) -> np.ndarray: ...

    def save(self, path: str | Path) -> Path: ...


def as_mask(mask, n: int, k: int) -> np.ndarray:
    """Validated bool (n, k) mask; ``None`` allows everything; a :class:`~causalrx.safety.Mask` gives its ``allowed``."""
    if mask is None:
        return np.ones((n, k), dtype=bool)
    return check_mask("mask", getattr(mask, "allowed", mask), n, k)


def as_covariates(Z, name: str = "Z") -> np.ndarray:
    """Finite float (n, d) covariates; names the offending columns otherwise (the check of :class:`BanditFeedback`)."""
    return check_context(name, Z)


def check_logged(Z, action, reward, n_actions: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The input gate of every learner's ``fit``: covariates, drug indices, finite rewards."""
    Z = as_covariates(Z)
    action = np.asarray(action)
    if action.shape != (len(Z),) or action.dtype.kind not in "iu":
        raise ValidationError(f"action: expected {len(Z)} integer drug indices, got {action.dtype} {action.shape}")
    k = int(n_actions) if n_actions is not None else int(action.max()) + 1
    if action.min() < 0 or action.max() >= k:
        raise ValidationError(f"action: drug indices must lie in 0..{k - 1}")
    if k < 2:
        raise ValidationError(f"action: expected at least 2 drugs, got {k}")
    reward = check_finite_vector("reward", reward, len(Z))
    return Z, action.astype(np.int64), reward, k


class PolicyBase:
    """Shared ``predict``/``save``/``load`` for policies that implement ``action_dist``."""

    def predict(self, Z, mask=None) -> np.ndarray:
        """The most probable allowed drug per row (ties: lowest index)."""
        return self.action_dist(Z, mask).argmax(axis=1)

    def save(self, path: str | Path) -> Path:
        return save_object(self, path)

    @classmethod
    def load(cls, path: str | Path):
        return load_object(path, cls, "policy")

    def _require_fit(self, attr: str = "n_actions_") -> None:
        if not hasattr(self, attr):
            raise ValidationError(f"{type(self).__name__}: call fit before using the policy")


def masked_dr_inputs(Z, action, reward, mask, propensity, n_actions, *, n_folds: int, random_state):
    """The input gate and scores of a learner trained on DR scores: ``(Z, allowed mask, Gamma, k)``."""
    Z, action, reward, k = check_logged(Z, action, reward, n_actions)
    allowed = as_mask(mask, len(Z), k)
    return Z, allowed, dr_scores(Z, action, reward, k, propensity=propensity, n_folds=n_folds, random_state=random_state), k


def dr_scores(Z, action, reward, n_actions: int, *, propensity=None, n_folds: int = 5, regressor=None,
              random_state=None) -> np.ndarray:  # fmt: skip
    """Cross-fitted doubly robust scores ``Gamma[i, a] = q(x_i, a) + 1{A_i = a} (r_i - q(x_i, a)) / e(a | x_i)``.

    ``mean_i sum_a pi(a | x_i) Gamma[i, a]`` is the DR estimate of a policy's value, so
    maximising it over a policy class is DR policy learning (Athey & Wager 2021). ``q`` is
    the cross-fitted reward model and ``e`` the cross-fitted, calibrated propensity model of
    :mod:`causalrx.effects`, unless ``propensity`` (n, k) is given (e.g. logged).

    References
    ----------
    Athey S, Wager S. Policy learning with observational data. Econometrica 2021;89(1):133-161.
    """
    n = len(action)
    if propensity is None:
        propensity = PropensityModel(n_folds=n_folds, random_state=random_state).fit_predict(Z, action, n_actions)
    propensity = np.asarray(propensity, dtype=float)
    if propensity.shape != (n, n_actions) or (propensity[np.arange(n), action] <= 0).any():
        raise ValidationError(f"propensity: expected ({n}, {n_actions}) probabilities, positive on the logged drug")
    q = cross_fit_outcomes(Z, action, reward, n_actions, regressor, n_folds=n_folds, random_state=random_state)
    rows = np.arange(n)
    gamma = q.copy()
    gamma[rows, action] += (reward - q[rows, action]) / propensity[rows, action]
    return gamma
