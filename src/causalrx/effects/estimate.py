"""The one interface of treatment-effect estimators, their result, and their input gate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from causalrx.data.feedback import check_context, check_finite_vector
from causalrx.data.utility import Utility
from causalrx.exceptions import PositivityError, ValidationError


@dataclass(frozen=True, eq=False)
class EffectEstimate:
    """Individual effects of every drug versus the reference arm (column 0 is all zeros).

    Attributes
    ----------
    ite, lower, upper : arrays (n, k)
        Point estimates and ``1 - alpha`` interval bounds (NaN where the method gives none).
    ate, ate_lower, ate_upper : arrays (k,)
        Average effect over the given patients, with its interval.
    method : str
    action_names : tuple of str
    alpha : float
    """

    ite: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    ate: np.ndarray
    ate_lower: np.ndarray
    ate_upper: np.ndarray
    method: str
    action_names: tuple[str, ...]
    alpha: float = 0.05

    def to_frame(self) -> pd.DataFrame:
        """Per drug: ATE with interval and the spread of the individual effects."""
        return pd.DataFrame(
            {
                "drug": self.action_names, "method": self.method, "ate": self.ate, "ate_lower": self.ate_lower,
                "ate_upper": self.ate_upper, "ite_sd": self.ite.std(axis=0),
            }  # fmt: skip
        )


@runtime_checkable
class EffectEstimator(Protocol):
    """What every estimator of :mod:`causalrx.effects` provides.

    ``fit(X, action, y)`` (or ``fit(cohort, y="efficacy")``) returns the fitted estimator;
    ``effect(X=None)`` returns an :class:`EffectEstimate` for the patients X (default: the
    training patients). Every estimator takes ``random_state`` and ``alpha``.
    """

    random_state: int | None
    alpha: float

    def fit(self, X, action=None, y=None, *, action_names=None): ...

    def effect(self, X=None) -> EffectEstimate: ...


def net_benefit(efficacy: EffectEstimate, adverse: EffectEstimate, utility: Utility = Utility()) -> EffectEstimate:
    """Combine effects on efficacy and on adverse events: ``efficacy - harm_weight * adverse``.

    Interval bounds are combined conservatively (lower = lower_eff - w * upper_adv), so the
    net interval covers whenever both inputs cover.
    """
    w = utility.harm_weight
    return EffectEstimate(
        ite=efficacy.ite - w * adverse.ite, lower=efficacy.lower - w * adverse.upper, upper=efficacy.upper - w * adverse.lower,
        ate=efficacy.ate - w * adverse.ate, ate_lower=efficacy.ate_lower - w * adverse.ate_upper,
        ate_upper=efficacy.ate_upper - w * adverse.ate_lower, method=f"net({efficacy.method}, {adverse.method})",
        action_names=efficacy.action_names, alpha=efficacy.alpha,
    )  # fmt: skip


@dataclass(frozen=True, eq=False)
class EffectData:
    """Validated inputs: covariates X (n, d), drug index (n,), outcome (n,)."""

    X: np.ndarray
    action: np.ndarray
    y: np.ndarray
    n_actions: int
    action_names: tuple[str, ...]
    binary_outcome: bool


def reference_first(cohort) -> list[int]:
    """The cohort's drug indices reordered so that its reference arm comes first (the order of :func:`cohort_inputs`)."""
    ref = cohort.reference_index
    return [ref] + [j for j in range(cohort.n_actions) if j != ref]


def cohort_inputs(cohort, outcome: str = "efficacy", *, visit: int = 0, modalities=("clinical", "genomics", "proteomics")):
    """Covariates, drug indices, outcome and drug names from a :class:`~causalrx.data.Cohort`.

    The reference arm becomes index 0. Covariates are the cohort's feature table (missing
    values stay NaN, so estimators refuse them until they are imputed, e.g. by
    :mod:`causalrx.prep`).
    """
    X = cohort.feature_table(modalities)
    action = cohort.logged_actions(visit)
    if (action < 0).any():
        raise ValidationError(f"treatments: {int((action < 0).sum())} patient(s) have no logged drug at visit {visit}")
    order = reference_first(cohort)
    remap = np.empty(cohort.n_actions, dtype=int)
    remap[order] = np.arange(cohort.n_actions)
    return X, remap[action], cohort.outcome(outcome, visit), tuple(cohort.action_names[j] for j in order)


def check_effect_inputs(X, action=None, y=None, action_names=None, propensity=None) -> EffectData:
    """The one input gate of :meth:`fit`; every error names the field and the problem.

    ``X`` may be a :class:`~causalrx.data.Cohort`; then ``y`` names its outcome column
    (default ``"efficacy"``) and ``action`` must be omitted.
    """
    from causalrx.data.schema import Cohort

    if isinstance(X, Cohort):
        if action is not None:
            raise ValidationError("action: omit it when fitting on a Cohort (its logged drugs are used)")
        X, action, y, action_names = cohort_inputs(X, "efficacy" if y is None else y)
    if action is None or y is None:
        raise ValidationError("fit: expected (X, action, y) arrays or a Cohort")
    if isinstance(X, pd.DataFrame):
        nan_cols = X.columns[X.isna().any()].tolist()
        if nan_cols:
            raise ValidationError(f"X: covariates contain NaN in column(s) {nan_cols[:10]}; impute them first (causalrx.prep)")
        X = X.to_numpy(dtype=float)
    X = check_context("X", X)
    action = np.asarray(action)
    if action.shape != (len(X),):
        raise ValidationError(f"action: expected shape ({len(X)},) to match X, got {action.shape}")
    if action.dtype.kind not in "iu":
        raise ValidationError(f"action: expected integer drug indices 0..k-1, got dtype {action.dtype}")
    levels = np.unique(action)
    if len(levels) < 2:
        raise ValidationError(f"action: the treatment has one level ({levels.tolist()}); effects need at least two arms")
    k = len(action_names) if action_names is not None else int(action.max()) + 1
    names = tuple(action_names) if action_names is not None else tuple(f"drug_{j}" for j in range(k))
    if action.min() < 0 or action.max() >= k:
        raise ValidationError(f"action: values must lie in 0..{k - 1}")
    never = sorted(set(range(k)) - set(levels.tolist()))
    if never:
        raise ValidationError(f"action: drug(s) {[names[j] for j in never]} were never prescribed; drop them or collect data")
    y = check_finite_vector("y", y, len(X), what="outcome value")
    if propensity is not None:
        p = np.asarray(propensity, dtype=float)
        if p.shape != (len(X), k):
            raise ValidationError(f"propensity: expected shape ({len(X)}, {k}), got {p.shape}")
        extreme = (p <= 0) | (p >= 1)
        if extreme.any():
            raise PositivityError(
                f"propensity: {int(extreme.any(axis=1).sum())} patient(s) have a propensity of exactly 0 or 1 "
                "(no overlap); trim them (see trim_overlap) or reconsider the covariates"
            )
    return EffectData(X=X, action=action.astype(int), y=y, n_actions=k, action_names=names,
                      binary_outcome=bool(np.isin(y, (0.0, 1.0)).all()))  # fmt: skip


def ate_from_ite(ite, lower, upper, method, names, alpha, ate=None, ate_lower=None, ate_upper=None) -> EffectEstimate:
    k = ite.shape[1]
    nan = np.full(k, np.nan)
    return EffectEstimate(
        ite=ite, lower=lower, upper=upper, ate=ite.mean(axis=0) if ate is None else ate,
        ate_lower=nan if ate_lower is None else ate_lower, ate_upper=nan if ate_upper is None else ate_upper,
        method=method, action_names=names, alpha=alpha,
    )  # fmt: skip
