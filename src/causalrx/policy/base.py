"""The policy contract, its input gate, persistence and the DR scores that learners share.

A policy maps covariates (usually out-of-fold embeddings ``X``) and a safety mask to a
distribution over the k drugs. Rules every policy follows:

1. ``action_dist(X, mask)`` puts probability exactly 0 on masked drugs (``mask`` is a bool
   ``(n, k)`` array, True = allowed, or a :class:`causalrx.safety.Mask`, matched to the
   policy's drugs by name and, with a DataFrame ``X``, to its rows by patient id).
   Learners also see the mask while they learn, so a masked drug is never what they were
   trained to pick. A policy fitted with a mask (``mask_required_``) refuses to predict
   without one: ``mask=None`` is a named error and ``mask="unmasked"`` states explicitly
   that nothing is masked; a policy fitted without one reads ``None`` as all allowed.
2. ``predict(X, mask)`` is the most probable allowed drug per row.
3. ``fit`` and ``action_dist``/``predict`` accept a
   :class:`~causalrx.data.problem.DecisionProblem` in place of ``X`` (and its logged data
   and mask): the policy then remembers the drugs by name and the covariate columns, and
   returns a DataFrame of patient ids x drug names (``predict``: a Series of drug names),
   matched by label whatever order the problem lists patients, drugs or columns in.
4. ``save(path)`` / ``load(path)`` round-trip a fitted policy (:func:`causalrx.data.storage.save_object`; load only files you trust).
5. Policies are scikit-learn estimators: hyper-parameters in ``__init__``, ``clone``-able,
   fitted state ending in ``_``, and no training row kept.
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from causalrx.data.feedback import check_context, check_finite_vector, check_mask
from causalrx.data.problem import DecisionProblem, label_positions
from causalrx.data.storage import load_object, save_object
from causalrx.effects.outcome import cross_fit_outcomes
from causalrx.effects.propensity import PropensityModel
from causalrx.exceptions import ValidationError


@runtime_checkable
class Policy(Protocol):
    """What every policy of :mod:`causalrx.policy` provides."""

    def action_dist(self, X, mask=None) -> np.ndarray: ...

    def predict(self, X, mask=None) -> np.ndarray: ...

    def save(self, path: str | Path) -> Path: ...


def as_mask(mask, n: int, k: int) -> np.ndarray:
    """Validated bool (n, k) mask; ``None`` allows everything; a :class:`~causalrx.safety.Mask` gives its ``allowed``."""
    if mask is None:
        return np.ones((n, k), dtype=bool)
    return check_mask("mask", getattr(mask, "allowed", mask), n, k)


def as_covariates(X, name: str = "X") -> np.ndarray:
    """Finite float (n, d) covariates; names the offending columns otherwise (the check of :class:`BanditFeedback`)."""
    return check_context(name, X)


def check_logged(X, action, reward, n_actions: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The input gate of every learner's ``fit``: covariates, drug indices, finite rewards."""
    X = as_covariates(X)
    action = np.asarray(action)
    if action.shape != (len(X),) or action.dtype.kind not in "iu":
        raise ValidationError(f"action: expected {len(X)} integer drug indices, got {action.dtype} {action.shape}")
    k = int(n_actions) if n_actions is not None else int(action.max()) + 1
    if action.min() < 0 or action.max() >= k:
        raise ValidationError(f"action: drug indices must lie in 0..{k - 1}")
    if k < 2:
        raise ValidationError(f"action: expected at least 2 drugs, got {k}")
    reward = check_finite_vector("reward", reward, len(X))
    return X, action.astype(np.int64), reward, k


def fits_problem(fit):
    """Let a learner's ``fit(X, action, reward, **kw)`` take a :class:`DecisionProblem` as ``X``.

    The problem's logged drug, reward, mask, propensity, drug names and reference arm go to
    the keywords the learner accepts; afterwards the learner knows its drugs by name
    (``drugs_``, ``reference_``) and its covariate columns (``feature_names_in_``).
    """
    accepts = set(inspect.signature(fit).parameters)

    @functools.wraps(fit)
    def wrapper(self, X, action=None, reward=None, **kw):
        problem = X if isinstance(X, DecisionProblem) else None
        if problem is not None:
            if action is not None or reward is not None:
                raise ValidationError("action, reward: omit them when fitting on a DecisionProblem (it carries its logged data)")
            if not problem.has_logged:
                raise ValidationError("DecisionProblem: no logged action and reward to learn from")
            given = {"mask": problem.allowed, "propensity": problem.propensity, "action_names": problem.drugs,
                     "n_actions": problem.n_actions, "reference": problem.reference_index}  # fmt: skip
            for key, value in given.items():
                if key in accepts and kw.get(key) is None:
                    kw[key] = value
            X, action, reward = problem.X, problem.action, problem.reward
        names = tuple(str(c) for c in X.columns) if isinstance(X, pd.DataFrame) else None
        given_mask = kw.get("mask")
        fitted = fit(self, X.to_numpy(dtype=float) if names is not None else X, action, reward, **kw)
        self.mask_required_ = _is_safety_mask(given_mask, problem)
        k = self.n_actions_
        drugs = problem.drugs if problem is not None else kw.get("action_names")
        self.drugs_ = tuple(drugs) if drugs is not None else tuple(f"drug_{j}" for j in range(k))
        ref = problem.reference if problem is not None else kw.get("reference")
        self.reference_ = ref if isinstance(ref, str) else self.drugs_[ref if ref is not None else 0]
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.n_covariates_ = int(np.shape(X)[1]) if np.ndim(X) == 2 else None
        return fitted

    return wrapper


UNMASKED = "unmasked"
"""Pass as ``mask`` to state explicitly that no drug is masked for these patients (see :func:`on_problem`)."""


def _is_safety_mask(mask, problem) -> bool:
    """Did ``fit`` see a safety mask? A problem with rules or any masked cell, or any mask passed."""
    if problem is not None:
        return problem.safety is not None or not bool(np.all(problem.allowed))
    return mask is not None


def _named_mask(policy, mask):
    """A :class:`~causalrx.safety.Mask` in the policy's drug order, matched by name."""
    drugs = getattr(policy, "drugs_", None)
    if drugs is None or tuple(mask.drugs) == tuple(drugs):
        return mask
    if set(mask.drugs) == set(drugs):
        return mask.reindex(drugs=drugs)
    if drugs == tuple(f"drug_{j}" for j in range(len(drugs))) and len(mask.drugs) == len(drugs):
        return mask  # fitted without drug names: the mask's columns are taken in order
    raise ValidationError(f"mask: its drugs {list(mask.drugs)} are not the drugs the policy was fitted on {list(drugs)}")


def on_problem(method):
    """Let ``action_dist(X, mask)`` take a :class:`DecisionProblem`: result as ids x drug names.

    The problem's covariate columns are matched by name (when the policy was fitted with
    names), its mask is taken in the policy's drug order, and the distribution comes back
    in the problem's drug order, labelled. A DataFrame ``X`` with a safety ``Mask`` aligns
    the mask by patient id.
    """

    @functools.wraps(method)
    def wrapper(self, X, mask=None):
        if not isinstance(X, DecisionProblem):
            if isinstance(mask, str) and mask == UNMASKED:
                mask = None
            elif mask is None and getattr(self, "mask_required_", False):
                raise ValidationError(f"mask: {type(self).__name__} was fitted with a safety mask, so it needs these patients' "
                                      f"mask too (a Mask, a bool array or a DecisionProblem); pass mask={UNMASKED!r} to state "
                                      "explicitly that no drug is masked for them")  # fmt: skip
            elif isinstance(mask, str):
                raise ValidationError(f"mask: expected a Mask, a bool array, None or {UNMASKED!r}, got {mask!r}")
            if hasattr(mask, "reindex") and hasattr(mask, "patient_ids"):
                mask = _named_mask(self, mask)
                if isinstance(X, pd.DataFrame):
                    mask = mask.reindex(X.index.to_numpy())
            if isinstance(X, pd.DataFrame) and getattr(self, "feature_names_in_", None) is not None:
                X = X.iloc[:, label_positions("X.columns", X.columns.astype(str), self.feature_names_in_, "covariate")]
            expected = getattr(self, "n_covariates_", None)
            if expected is not None and np.ndim(X) == 2 and np.shape(X)[1] != expected:
                raise ValidationError(f"X: {type(self).__name__} was fitted on {expected} covariate columns, got {np.shape(X)[1]}; "
                                      "give the patients' covariates in the columns it learned from")  # fmt: skip
            return method(self, X, mask)
        problem = X
        if mask is not None:
            raise ValidationError("mask: a DecisionProblem carries its own mask; use problem.with_mask(...) to change it")
        drugs = getattr(self, "drugs_", None) or problem.drugs
        cols = label_positions("drugs", problem.drugs, drugs, "drug")
        if len(cols) != problem.n_actions:
            raise ValidationError(f"drugs: the policy knows {list(drugs)}, the problem lists {list(problem.drugs)}")
        names = getattr(self, "feature_names_in_", None)
        covariates = problem.align_columns(names) if names is not None else problem.X.to_numpy()
        dist = np.asarray(method(self, covariates, problem.allowed[:, cols]), dtype=float)
        out = np.empty_like(dist)
        out[:, cols] = dist
        return problem.frame(out)

    wrapper.__wrapped_problem__ = True
    return wrapper


class PolicyBase(BaseEstimator):
    """Shared ``predict``/``save``/``load`` for policies that implement ``action_dist``."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "action_dist" in vars(cls) and not getattr(cls.action_dist, "__wrapped_problem__", False):
            cls.action_dist = on_problem(cls.action_dist)
        fit = vars(cls).get("fit")
        if fit is not None and not hasattr(fit, "__wrapped__") and "action" in inspect.signature(fit).parameters:
            cls.fit = fits_problem(cls.fit)

    def predict(self, X, mask=None):
        """The most probable allowed drug per row (ties: lowest index); a Series of drug names for a DecisionProblem."""
        dist = self.action_dist(X, mask)
        if isinstance(dist, pd.DataFrame):
            return pd.Series(dist.columns.to_numpy()[dist.to_numpy().argmax(axis=1)], index=dist.index, name="drug")
        return dist.argmax(axis=1)

    def save(self, path: str | Path) -> Path:
        return save_object(self, path)

    @classmethod
    def load(cls, path: str | Path):
        return load_object(path, cls, "policy")

    def _require_fit(self, attr: str = "n_actions_") -> None:
        if not hasattr(self, attr):
            raise ValidationError(f"{type(self).__name__}: call fit before using the policy")


def reference_column(reference, action_names, k: int) -> int:
    """The reference arm's column: ``reference`` by name among ``action_names`` (default ``drug_0..``), or its index
    (default the first drug)."""
    names = tuple(action_names) if action_names is not None else tuple(f"drug_{j}" for j in range(k))
    return names.index(reference) if isinstance(reference, str) else int(reference or 0)


def masked_dr_inputs(X, action, reward, mask, propensity, n_actions, *, n_folds: int, random_state):
    """The input gate and scores of a learner trained on DR scores: ``(X, allowed mask, Gamma, k)``."""
    X, action, reward, k = check_logged(X, action, reward, n_actions)
    allowed = as_mask(mask, len(X), k)
    return X, allowed, dr_scores(X, action, reward, k, propensity=propensity, n_folds=n_folds, random_state=random_state), k


def dr_scores(X, action, reward, n_actions: int, *, propensity=None, n_folds: int = 5, regressor=None,
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
        propensity = PropensityModel(n_folds=n_folds, random_state=random_state).fit_predict(X, action, n_actions)
    propensity = np.asarray(propensity, dtype=float)
    if propensity.shape != (n, n_actions) or (propensity[np.arange(n), action] <= 0).any():
        raise ValidationError(f"propensity: expected ({n}, {n_actions}) probabilities, positive on the logged drug")
    q = cross_fit_outcomes(X, action, reward, n_actions, regressor, n_folds=n_folds, random_state=random_state)
    return dr_table(q, action, reward, propensity[np.arange(n), action])


def dr_table(q, action, reward, pscore) -> np.ndarray:
    """Doubly robust scores ``Gamma[i, a] = q[i, a] + 1{A_i = a} (r_i - q[i, a]) / pscore_i`` from
    out-of-fold rewards ``q`` (n, k) and the logged drug's propensity ``pscore`` (n,)."""
    q, action, reward, pscore = np.asarray(q, float), np.asarray(action), np.asarray(reward, float), np.asarray(pscore, float)
    if q.ndim != 2 or len(action) != len(q) or len(reward) != len(q) or pscore.shape != (len(q),) or (pscore <= 0).any():
        raise ValidationError(f"dr_table: expected q (n, k), and action, reward and positive pscore of length n = {len(q)}")
    rows = np.arange(len(q))
    gamma = q.copy()
    gamma[rows, action] += (reward - q[rows, action]) / pscore
    return gamma
