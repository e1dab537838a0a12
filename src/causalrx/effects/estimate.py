"""The one interface of treatment-effect estimators, their result, and their input gate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from causalrx.data.feedback import check_context, check_finite_vector
from causalrx.data.utility import Utility
from causalrx.exceptions import PositivityError, ValidationError


SCALES = ("difference", "risk ratio", "odds ratio")


def require_differences(effect: EffectEstimate, name: str = "effect") -> None:
    """Refuse an estimate on a ratio scale where effects are added, subtracted or ranked against 0."""
    if effect.scale != "difference":
        raise ValidationError(f"{name}: expected effects on the difference scale, got a {effect.scale} estimate "
                              "(use the learner's effect(), not relative_effect())")  # fmt: skip


@dataclass(frozen=True, eq=False)
class EffectEstimate:
    """Individual effects of every drug versus the reference arm, labelled by patient id and drug name.

    Columns follow ``action_names``; the reference arm's column (wherever it is) is all zeros.

    Attributes
    ----------
    ite, lower, upper : arrays (n, k)
        Point estimates and ``1 - alpha`` interval bounds (NaN where the method gives none).
    ate, ate_lower, ate_upper : arrays (k,)
        Average effect over the given patients, with its interval.
    method : str
    action_names : tuple of str
    alpha : float
    patient_ids : array (n,)
        The patients of the rows (default ``0..n-1`` for estimates built by hand).
    reference : str
        The reference arm's name (default: the first of ``action_names``, for estimates
        built by hand; estimators always name it).
    scale : {"difference", "risk ratio", "odds ratio"}
        What the numbers are. Differences (default) are what policies, :func:`net_benefit`
        and :func:`~causalrx.recommend.recommend` rank; ratios (from ``relative_effect`` of a
        learner fitted on a binary outcome) have 1 in the reference arm's column and are
        refused there.
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
    patient_ids: np.ndarray | None = None
    reference: str | None = None
    scale: str = "difference"

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValidationError(f"scale: expected one of {list(SCALES)}, got {self.scale!r}")
        names = tuple(str(a) for a in self.action_names)
        object.__setattr__(self, "action_names", names)
        n, k = np.shape(self.ite)
        if len(names) != k:
            raise ValidationError(f"action_names: {len(names)} name(s) for {k} effect column(s)")
        ids = np.arange(n) if self.patient_ids is None else np.asarray(self.patient_ids)
        if ids.shape != (n,):
            raise ValidationError(f"patient_ids: expected {n} id(s), one per row, got shape {ids.shape}")
        object.__setattr__(self, "patient_ids", ids)
        reference = names[0] if self.reference is None else str(self.reference)
        if reference not in names:
            raise ValidationError(f"reference: {reference!r} is not one of the drugs {list(names)}")
        object.__setattr__(self, "reference", reference)

    @property
    def reference_index(self) -> int:
        return self.action_names.index(self.reference)

    def reindex(self, patient_ids=None, drugs=None) -> EffectEstimate:
        """The same estimate with rows in the order of ``patient_ids`` and columns in the order of ``drugs`` (by label)."""
        from causalrx.data.problem import label_positions

        rows = slice(None) if patient_ids is None else label_positions("patient_ids", self.patient_ids, patient_ids, "patient id")
        cols = np.arange(len(self.action_names)) if drugs is None else label_positions("drugs", self.action_names, drugs, "drug")
        if drugs is not None and len(cols) != len(self.action_names):
            raise ValidationError(f"drugs: expected all {len(self.action_names)} drugs of the estimate, got {len(cols)}")
        cells = lambda a: a[rows][:, cols]  # noqa: E731
        return EffectEstimate(ite=cells(self.ite), lower=cells(self.lower), upper=cells(self.upper), ate=self.ate[cols],
                              ate_lower=self.ate_lower[cols], ate_upper=self.ate_upper[cols], method=self.method,
                              action_names=tuple(self.action_names[j] for j in cols), alpha=self.alpha,
                              patient_ids=self.patient_ids[rows], reference=self.reference, scale=self.scale)  # fmt: skip

    def ite_frame(self) -> pd.DataFrame:
        """The individual effects as a DataFrame of patient ids x drug names."""
        return pd.DataFrame(self.ite, index=pd.Index(self.patient_ids, name="patient_id"), columns=pd.Index(self.action_names, name="drug"))

    def to_frame(self) -> pd.DataFrame:
        """Per drug: ATE with interval and the spread of the individual effects."""
        return pd.DataFrame(
            {
                "drug": self.action_names, "reference": self.reference, "method": self.method, "scale": self.scale, "ate": self.ate,
                "ate_lower": self.ate_lower, "ate_upper": self.ate_upper, "ite_sd": self.ite.std(axis=0),
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

    The two are matched by patient id and drug name. Interval bounds are combined
    conservatively (lower = lower_eff - w * upper_adv), so the net interval covers whenever
    both inputs cover.
    """
    require_differences(efficacy, "efficacy")
    require_differences(adverse, "adverse")
    if adverse.reference != efficacy.reference:
        raise ValidationError(f"adverse: reference arm {adverse.reference!r} differs from the efficacy's {efficacy.reference!r}")
    adverse = adverse.reindex(efficacy.patient_ids, efficacy.action_names)
    w = utility.harm_weight
    return EffectEstimate(
        ite=efficacy.ite - w * adverse.ite, lower=efficacy.lower - w * adverse.upper, upper=efficacy.upper - w * adverse.lower,
        ate=efficacy.ate - w * adverse.ate, ate_lower=efficacy.ate_lower - w * adverse.ate_upper,
        ate_upper=efficacy.ate_upper - w * adverse.ate_lower, method=f"net({efficacy.method}, {adverse.method})",
        action_names=efficacy.action_names, alpha=efficacy.alpha, patient_ids=efficacy.patient_ids,
        reference=efficacy.reference,
    )  # fmt: skip


@dataclass(frozen=True, eq=False)
class EffectData:
    """Validated inputs in the estimators' working order, where the reference arm is index 0.

    ``X`` (n, d), ``action`` (n,) and ``y`` (n,) are in that working order; ``order[i]`` is
    the position in the caller's ``drugs`` of working drug ``i``, so results go back to the
    caller's order with :func:`scatter_columns`.
    """

    X: np.ndarray
    action: np.ndarray
    y: np.ndarray
    n_actions: int
    action_names: tuple[str, ...]
    binary_outcome: bool
    drugs: tuple[str, ...] = ()
    reference: str = ""
    order: np.ndarray | None = None
    feature_names: tuple[str, ...] | None = None


def scatter_columns(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Columns of ``values`` in working order (reference first) placed at the caller's positions ``order``."""
    out = np.empty_like(values)
    out[..., order] = values
    return out


def working_order(drugs: tuple[str, ...], reference: str) -> np.ndarray:
    """The caller's drug positions with the reference arm's first: the estimators' working order."""
    ref = drugs.index(reference)
    return np.array([ref] + [j for j in range(len(drugs)) if j != ref])


def cohort_inputs(cohort, outcome: str = "efficacy", *, visit: int = 0, modalities=("clinical", "genomics", "proteomics")):
    """Covariates (DataFrame indexed by patient id), drug indices, outcome and drug names of a
    :class:`~causalrx.data.Cohort`, drugs in the cohort's order (its reference arm is
    ``cohort.reference``, wherever it is).

    Covariates are the cohort's feature table (missing values stay NaN, so estimators refuse
    them until they are imputed, e.g. by :mod:`causalrx.prep`).
    """
    X = cohort.feature_table(modalities)
    action = cohort.logged_actions(visit)
    if (action < 0).any():
        raise ValidationError(f"treatments: {int((action < 0).sum())} patient(s) have no logged drug at visit {visit}")
    return X, action, cohort.outcome(outcome, visit), tuple(cohort.action_names)


def resolve_covariates(X, feature_names=None):
    """``(X array, patient ids, drugs or None)`` from an array, a DataFrame indexed by patient id or a DecisionProblem.

    With ``feature_names`` (the columns a model was fitted on) a DataFrame's or problem's
    columns are matched by name.
    """
    from causalrx.data.problem import DecisionProblem, label_positions

    drugs = None
    if isinstance(X, DecisionProblem):
        drugs = X.drugs
        X = X.X
    if isinstance(X, pd.DataFrame):
        ids = X.index.to_numpy()
        if feature_names is not None:
            X = X.iloc[:, label_positions("X.columns", X.columns.astype(str), feature_names, "covariate")]
        return check_context("X", X.to_numpy(dtype=float)), ids, drugs
    X = check_context("X", X)
    return X, np.arange(len(X)), drugs


def as_drug_indices(action, n: int, action_names=None) -> np.ndarray:
    """Drug indices (n,) from integers, booleans, whole-number floats or drug names, shaped (n,) or (n, 1)."""
    action = np.asarray(action)
    if action.ndim == 2 and action.shape[1] == 1:
        action = action[:, 0]
    if action.shape != (n,):
        raise ValidationError(f"action: expected shape ({n},) or ({n}, 1) to match X, got {action.shape}")
    if action.dtype == bool:
        return action.astype(np.int64)
    if action.dtype.kind == "f":
        whole = np.isfinite(action) & (action == np.round(action))
        if not whole.all():
            raise ValidationError(f"action: expected whole-number drug indices, got {int((~whole).sum())} value(s) such as "
                                  f"{action[~whole][:3].tolist()}")  # fmt: skip
        return action.astype(np.int64)
    if action.dtype.kind in "OUS":
        if action_names is None:
            raise ValidationError("action: drug names need action_names to say which index each name has")
        names = [str(a) for a in action_names]
        unknown = sorted({str(a) for a in action} - set(names))
        if unknown:
            raise ValidationError(f"action: drug(s) {unknown[:5]} are not among action_names {names}")
        return np.array([names.index(str(a)) for a in action], dtype=np.int64)
    if action.dtype.kind not in "iu":
        raise ValidationError(f"action: expected drug indices 0..k-1 (integers, booleans or names), got dtype {action.dtype}")
    return action


OUTCOME_TYPES = ("auto", "continuous", "binary")


def is_binary(y: np.ndarray, outcome: str = "auto") -> bool:
    """Whether ``y`` is treated as a binary outcome: declared, or (``"auto"``) every value 0 or 1 and both present."""
    if outcome not in OUTCOME_TYPES:
        raise ValidationError(f"outcome: expected one of {list(OUTCOME_TYPES)}, got {outcome!r}")
    values = np.unique(y)
    if outcome == "binary":
        if not np.isin(values, (0.0, 1.0)).all():
            raise ValidationError(f"y: outcome='binary' needs values 0 and 1, got {values[:5].tolist()}")
        return True
    return outcome == "auto" and len(values) == 2 and np.isin(values, (0.0, 1.0)).all()


def check_effect_inputs(X, action=None, y=None, action_names=None, propensity=None, reference=None) -> EffectData:
    """The one input gate of :meth:`fit`; every error names the field and the problem.

    ``X`` may be a :class:`~causalrx.data.problem.DecisionProblem` (its logged action and
    reward are used, ``y`` may name another outcome array) or a
    :class:`~causalrx.data.Cohort` (then ``y`` names its outcome column, default
    ``"efficacy"``); with either, ``action`` must be omitted. With arrays, ``reference``
    names the reference arm (default: the first of ``action_names``).
    """
    from causalrx.data.problem import DecisionProblem
    from causalrx.data.schema import Cohort

    if isinstance(X, Cohort):
        if action is not None:
            raise ValidationError("action: omit it when fitting on a Cohort (its logged drugs are used)")
        reference = X.reference
        X, action, y, action_names = cohort_inputs(X, "efficacy" if y is None else y)
    if isinstance(X, DecisionProblem):
        if action is not None:
            raise ValidationError("action: omit it when fitting on a DecisionProblem (its logged drugs are used)")
        if X.action is None:
            raise ValidationError("DecisionProblem: no logged action to fit on")
        y = X.reward if y is None else y
        if y is None:
            raise ValidationError("DecisionProblem: no reward to fit on; give y")
        if propensity is None and X.propensity is not None:
            propensity = X.propensity
        action, action_names, reference, X = X.action, X.drugs, X.reference, X.X
    if action is None or y is None:
        raise ValidationError("fit: expected (X, action, y) arrays, a DecisionProblem or a Cohort")
    feature_names = None
    if isinstance(X, pd.DataFrame):
        nan_cols = X.columns[X.isna().any()].tolist()
        if nan_cols:
            raise ValidationError(f"X: covariates contain NaN in column(s) {nan_cols[:10]}; impute them first (causalrx.prep)")
        feature_names = tuple(str(c) for c in X.columns)
        X = X.to_numpy(dtype=float)
    X = check_context("X", X)
    action = as_drug_indices(action, len(X), action_names)
    levels = np.unique(action)
    if len(levels) < 2:
        raise ValidationError(f"action: the treatment has one level ({levels.tolist()}); effects need at least two arms")
    k = len(action_names) if action_names is not None else int(action.max()) + 1
    names = tuple(str(a) for a in action_names) if action_names is not None else tuple(f"drug_{j}" for j in range(k))
    if action.min() < 0 or action.max() >= k:
        raise ValidationError(f"action: values must lie in 0..{k - 1}")
    never = sorted(set(range(k)) - set(levels.tolist()))
    if never:
        raise ValidationError(f"action: drug(s) {[names[j] for j in never]} were never prescribed; drop them or collect data")
    reference = names[0] if reference is None else (names[reference] if isinstance(reference, (int, np.integer)) else str(reference))
    if reference not in names:
        raise ValidationError(f"reference: {reference!r} is not one of the drugs {list(names)}")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    y = check_finite_vector("y", y.astype(float) if y.dtype == bool else y, len(X), what="outcome value")
    order = working_order(names, reference)
    remap = np.empty(k, dtype=int)
    remap[order] = np.arange(k)
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
    return EffectData(X=X, action=remap[action.astype(int)], y=y, n_actions=k, action_names=tuple(names[j] for j in order),
                      binary_outcome=is_binary(y), drugs=names, reference=reference, order=order,
                      feature_names=feature_names)  # fmt: skip


def working_propensity(propensity, data: EffectData):
    """A caller-order propensity (n, k) in the working order of ``data`` (or None)."""
    return None if propensity is None else np.asarray(propensity, dtype=float)[:, data.order]

