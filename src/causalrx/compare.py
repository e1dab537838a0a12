"""Compare recommendation policies on logged data in one call.

:func:`compare` fits what needs fitting *cross-fitted* (an unfitted learner is fitted on
K-1 folds of patients and acts on the held-out fold, so no policy is evaluated on the
patients it learned from), evaluates every policy with the chosen off-policy estimators,
and returns a table and a forest plot: policy x estimator value with its interval, the
share of decisions on masked drugs, and, when the truth is known (simulated data), each
policy's true value and its regret against the oracle.
"""

from __future__ import annotations

import inspect
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from sklearn.base import clone

from causalrx.data.feedback import BanditFeedback, Trajectories
from causalrx.data.problem import DecisionProblem
from causalrx.effects.crossfit import make_folds
from causalrx.exceptions import ValidationError
from causalrx.ope.compare import add_true_values, result_rows, save_policy_plot
from causalrx.ope.estimators import estimate_all
from causalrx.ope.fqe import FQE
from causalrx.ope.inputs import mask_violation_rate
from causalrx.ope.reward_model import RewardModel
from causalrx.ope.sequential import estimate_sequential
from causalrx.policy.offline_rl import OfflineRLPolicy


@dataclass
class CrossFittedPolicy:
    """Per-fold fitted copies of a policy; unit (patient or episode) ``u`` is served by the copy that never saw it.

    ``action_dist(Z, mask)`` takes rows of the same units in order: either one row per unit
    or, with ``unit_of_row``, the logged rows (e.g. every step of every episode).
    """

    models: list
    fold_of_unit: np.ndarray
    unit_of_row: np.ndarray | None = None

    def action_dist(self, Z, mask=None) -> np.ndarray:
        n = len(Z)
        if n == len(self.fold_of_unit):
            fold = self.fold_of_unit
        elif self.unit_of_row is not None and n == len(self.unit_of_row):
            fold = self.fold_of_unit[self.unit_of_row]
        else:
            raise ValidationError(f"Z: a cross-fitted policy acts on its own {len(self.fold_of_unit)} units, got {n} rows")
        out = None
        for f, model in enumerate(self.models):
            rows = np.flatnonzero(fold == f)
            dist = model.action_dist(np.asarray(Z)[rows], None if mask is None else np.asarray(mask)[rows])
            out = np.zeros((n, dist.shape[1])) if out is None else out
            out[rows] = dist
        return out

    def predict(self, Z, mask=None) -> np.ndarray:
        return self.action_dist(Z, mask).argmax(axis=1)


def _is_fitted(policy) -> bool:
    return not hasattr(policy, "fit") or any(k.endswith("_") and not k.startswith("_") for k in vars(policy))


def cross_fit_policy(policy, logged, mask, *, n_folds: int = 2, random_state=None, reference=None) -> tuple[CrossFittedPolicy, float]:
    """Fit copies of ``policy`` on all folds but one; returns the cross-fitted policy and the mean fit time (s).

    ``reference`` (the reference arm's name) goes to learners that take one, with the drug names.
    """
    from causalrx.execution import run_inner

    sequential = isinstance(logged, Trajectories)
    n_units = logged.n_episodes if sequential else logged.n_rounds
    unit_of_row = logged.episode_index if sequential else None
    fold = np.empty(n_units, dtype=int)
    folds = make_folds(n_units, n_folds, random_state)
    for f, (_, test) in enumerate(folds):
        fold[test] = f
    tasks = [(f"fold {f}", {"train": train}) for f, (train, _) in enumerate(folds)]
    fitted = run_inner(_fit_policy_fold, tasks, shared={"policy": policy, "logged": logged, "mask": mask, "reference": reference})
    models, seconds = [model for model, _ in fitted], [s for _, s in fitted]
    return CrossFittedPolicy(models, fold, unit_of_row), float(np.mean(seconds))


def _fit_policy_fold(policy, logged, mask, reference, train) -> tuple:
    """A copy of ``policy`` fitted on the training units ``train``, and the seconds it took."""
    sequential = isinstance(logged, Trajectories)
    model = clone(policy)
    start = time.perf_counter()
    if sequential and isinstance(model, OfflineRLPolicy):
        rows = np.isin(logged.episode_index, train)
        model.fit(replace(logged, mask=mask).subset(rows))  # the mask given to compare, not the logged one
    else:  # one-step learners; on episodes they learn from every step of the training episodes
        rows = np.isin(logged.episode_index, train) if sequential else train
        X = logged.observations if sequential else logged.context
        accepts = inspect.signature(model.fit).parameters
        named = {"action_names": logged.action_names, "reference": reference} if reference is not None else {}
        model.fit(X[rows], logged.action[rows], logged.reward[rows], mask=None if mask is None else mask[rows],
                  n_actions=logged.n_actions, **{k: v for k, v in named.items() if k in accepts})  # fmt: skip
    return model, time.perf_counter() - start


@dataclass(frozen=True)
class Comparison:
    """``table``: one row per (policy, estimator); ``policies``: the fitted (cross-fitted) policies by name;
    ``rewards``: the out-of-fold reward model (n, k) the one-step estimators used (None for sequential data)."""

    table: pd.DataFrame
    policies: dict
    plot_path: Path | None
    rewards: np.ndarray | None = None

    def to_frame(self) -> pd.DataFrame:
        return self.table


def compare(
    logged: BanditFeedback | Trajectories,
    policies: dict,
    *,
    inputs: dict | None = None,
    estimators=None,
    true_value=None,
    oracle_value: float | None = None,
    n_folds: int = 2,
    inference=None,
    fqe: FQE | None = None,
    estimated_rewards=None,
    plot_path: str | Path | None = None,
    progress: bool = False,
    random_state: int | None = 0,
) -> Comparison:
    """Fit (cross-fitted), evaluate and tabulate every policy.

    Parameters
    ----------
    logged : DecisionProblem, BanditFeedback or Trajectories
        The logged decisions, with their safety ``mask`` (every learned policy is fitted and
        evaluated under it). A DecisionProblem names the reference arm, which learners and
        baselines then use by name.
    policies : dict
        ``{name: policy}``. Unfitted learners (effect-greedy, trees, DR bandit, offline RL)
        are cross-fitted over ``n_folds`` folds of patients (episodes); fitted policies are
        used as given (a fitted learner with a warning: it may have learned from the patients
        it is scored on); baselines that read other inputs take them from ``inputs[name]``
        (e.g. a guideline reads patient fields).
    estimators : list, optional
        One-step: estimators of :mod:`causalrx.ope` (default all, with a cross-fitted
        reward model); sequential: of :mod:`causalrx.ope.sequential` (default all, with
        Q-values cross-fitted by episode, :meth:`FQE.cross_fit_q_values` over ``n_folds``
        folds; FQE fitted on all episodes is also reported as an estimator of its own).
    estimated_rewards : array (n, k), optional
        One-step only: out-of-fold rewards under every drug to use instead of fitting
        :class:`~causalrx.ope.RewardModel` (e.g. the model that also scores subgroups, so
        that their values average to the DR row).
    true_value : callable, optional
        ``true_value(name, policy) -> float`` on simulated data; adds ``true_value``, and with
        ``oracle_value`` the ``regret``.
    plot_path : path, optional
        Where to save the forest plot.
    """
    problem = logged if isinstance(logged, DecisionProblem) else None
    if problem is not None:
        logged = problem.feedback()
    if not isinstance(logged, (BanditFeedback, Trajectories)):
        raise ValidationError(f"logged: expected a DecisionProblem, BanditFeedback or Trajectories, got {type(logged).__name__}")
    if not policies:
        raise ValidationError("policies: expected at least one {name: policy}")
    sequential = isinstance(logged, Trajectories)
    X = logged.observations if sequential else logged.context
    mask = logged.mask
    if estimated_rewards is not None and sequential:
        raise ValidationError("estimated_rewards: one-step data only; sequential estimators use cross-fitted Q-values")
    if sequential:
        rewards = None
    elif estimated_rewards is not None:
        rewards = np.asarray(estimated_rewards, dtype=float)
        if rewards.shape != (logged.n_rounds, logged.n_actions) or not np.isfinite(rewards).all():
            raise ValidationError(f"estimated_rewards: expected finite values of shape ({logged.n_rounds}, {logged.n_actions}), "
                                  f"got {rewards.shape}")  # fmt: skip
    else:
        rewards = RewardModel(random_state=random_state).fit_predict(logged)
    frames, fitted = [], {}
    for name, policy in tqdm(policies.items(), desc="policies", disable=not progress):
        fit_s = 0.0
        if not _is_fitted(policy):
            policy, fit_s = cross_fit_policy(policy, logged, mask, n_folds=n_folds, random_state=random_state,
                                             reference=None if problem is None else problem.reference)  # fmt: skip
        elif hasattr(policy, "fit") and not isinstance(policy, CrossFittedPolicy):
            warnings.warn(f"policies[{name!r}]: a learner passed already fitted is evaluated as given; if it learned from "
                          "these patients its estimated value is optimistic (pass it unfitted to have it cross-fitted)",
                          UserWarning, stacklevel=2)  # fmt: skip
        fitted[name] = policy
        if problem is not None and name not in (inputs or {}) and not isinstance(policy, CrossFittedPolicy):
            raw = policy.action_dist(problem).to_numpy()  # matched by drug name, in the problem's order
        else:
            raw = policy.action_dist((inputs or {}).get(name, X), mask)
        violation = mask_violation_rate(raw, mask, allow=True, where="") or 0.0
        if sequential:
            model = replace(fqe) if fqe is not None else FQE(random_state=random_state)  # a fresh copy per policy
            fqe_value = model.estimate(logged, raw, inference=inference)
            # the DR estimators score each episode with a Q-model that never saw it
            q_values = model.cross_fit_q_values(logged, raw, n_folds=n_folds)
            results = estimate_sequential(logged, raw, q_values, estimators, inference=inference, allow_mask_violation=True)
            results.append(fqe_value)
        else:
            results = estimate_all(logged, raw, rewards, estimators, inference=inference, allow_mask_violation=True)
        frame = result_rows(name, results)
        frame["mask_violations"] = violation
        frame["fit_seconds"] = fit_s
        frames.append(frame)
    truth = None if true_value is None else {name: float(true_value(name, fitted[name])) for name in policies}
    table = add_true_values(pd.concat(frames, ignore_index=True), truth, oracle_value)
    return Comparison(table=table, policies=fitted, plot_path=save_policy_plot(table, plot_path, oracle_value), rewards=rewards)


__all__ = ["Comparison", "CrossFittedPolicy", "compare", "cross_fit_policy"]
