"""Recommendation tiers for a clinician: recommended / alternative / contraindicated.

Every patient gets one row per drug. A drug masked by the safety layer is
``contraindicated``, with the rules that masked it, whatever its estimated effect; that
includes a drug whose contraindicating rule could not be decided for the patient (pending
data: ``pending_data`` names the fields to record, and the reason says so); among
the allowed drugs the best by estimated effect versus the reference arm is
``recommended`` (the choice with the best expected outcome) and the others are
``alternative``, ranked. With ``require_benefit=True`` a drug is recommended over the
reference arm only when its interval lies above ``min_effect``; otherwise the reference arm
(standard care) is recommended and the drug stays an alternative. That conservative mode
never presents an unproven benefit as the first choice, but it gives up expected benefit
wherever intervals are wide (on the simulator at n = 5,000 it recommends standard care to
most patients and its true regret exceeds the clinicians'; ``causalrx run`` reports both).

Confidence is the normal approximation of the probability that the drug beats the
reference arm, ``Phi(effect / se)`` with ``se`` read from the interval width; for the
reference arm it is the probability that no allowed drug beats it, bounded by
``1 - max_j Phi(effect_j / se_j)``. Where the estimator gives no interval (meta-learners)
confidence is NaN and the tier rests on the point estimate alone.

Drivers are the covariates that move a patient's estimated effect most, with their sign
(:mod:`causalrx.explain`): by default SHAP values of a boosted-tree surrogate of each drug's
estimated effect (``drivers="shap"``), or the contributions ``beta_jf * z_f`` of a linear
surrogate on the standardised covariates (``drivers="linear"``). The surrogate's R^2 per drug
(``surrogate_r2``: out of fold for the trees) says how much of the estimated heterogeneity it
explains; read the drivers in that light.

Recommendations are decision support for a clinician, never a prescription: the result
carries :data:`causalrx.disclaimer.DISCLAIMER`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from causalrx.data.feedback import check_context
from causalrx.data.problem import DecisionProblem
from causalrx.disclaimer import DISCLAIMER
from causalrx.effects.estimate import EffectEstimate, require_differences
from causalrx.exceptions import ValidationError, check_number
from causalrx.safety.mask import Mask
from causalrx.safety.scores import masked_argmax

TIERS = ("recommended", "alternative", "contraindicated")


@dataclass(frozen=True, eq=False)
class Recommendations:
    """Result of :func:`recommend`.

    Attributes
    ----------
    table : DataFrame
        One row per (patient, drug): ``patient_id, drug, tier, rank`` (1 = recommended,
        2.. alternatives, NaN when contraindicated), ``effect, lower, upper`` (versus the
        reference arm), ``confidence``, ``reason`` (the safety rules behind a
        contraindication or a caution), ``dose_note`` and ``drivers``.
    surrogate_r2 : Series
        Per drug, the share of the estimated effect's variance the drivers' linear surrogate
        explains (NaN without covariates or when the effect does not vary).
    method : str
        The effect estimator's method.
    disclaimer : str
    """

    table: pd.DataFrame
    surrogate_r2: pd.Series
    method: str
    disclaimer: str = DISCLAIMER

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def for_patient(self, patient_id) -> pd.DataFrame:
        """The patient's drugs, recommended first, then alternatives, then contraindicated."""
        rows = self.table[self.table["patient_id"] == patient_id]
        if rows.empty:
            raise ValidationError(f"patient_id: {patient_id!r} is not among the recommendations' patients")
        order = rows["tier"].map({t: i for i, t in enumerate(TIERS)})
        return rows.assign(_order=order).sort_values(["_order", "rank"]).drop(columns="_order").reset_index(drop=True)

    def summary(self) -> pd.DataFrame:
        """Patients per drug and tier, with the mean confidence of each recommended drug."""
        counts = pd.crosstab(self.table["drug"], self.table["tier"]).reindex(columns=list(TIERS), fill_value=0)
        drugs = list(dict.fromkeys(self.table["drug"]))
        rec = self.table[self.table["tier"] == "recommended"]
        counts["mean_confidence_when_recommended"] = rec.groupby("drug")["confidence"].mean()
        return counts.reindex(drugs).rename_axis(None, axis=1).reset_index()


def recommend(
    effect: EffectEstimate, mask, X=None, *, feature_names=None, patient_ids=None, require_benefit: bool = False,
    min_effect: float = 0.0, n_drivers: int = 3, drivers: str = "shap", random_state: int | None = 0,
) -> Recommendations:  # fmt: skip
    """Tiers, confidence and drivers for every patient and drug.

    Parameters
    ----------
    effect : EffectEstimate
        Effects versus its named reference arm (at any column), e.g. of the net benefit
        (:func:`causalrx.effects.net_benefit`); higher is better.
    mask : DecisionProblem, Mask or bool array (n, k)
        The safety mask (True = allowed). A :class:`~causalrx.data.problem.DecisionProblem`
        gives its mask, covariates (for the drivers) and patient ids, and the effect is
        matched to it by patient id and drug name. A :class:`~causalrx.safety.Mask` also
        gives the reasons and dose notes, and its drugs are matched to the effect's by name
        and its rows to the effect's patient ids (when the effect carries ids the mask
        knows); a bare array is taken in the effect's order and its reasons read "masked by
        the safety mask". The reference arm must be allowed for every patient.
    X : array or DataFrame (n, d), optional
        The covariates the effects were estimated on, for the drivers.
    feature_names : list of str, optional
        Covariate names (default: the DataFrame's columns, else ``x0..``).
    patient_ids : array (n,), optional
        The patients of the effect's rows, in order. With a :class:`~causalrx.safety.Mask`
        the mask's rows are matched to them by id (an id missing from the mask is an
        error). Default: the Mask's patient ids, else ``0..n-1``.
    require_benefit : bool
        Recommend a drug over the reference arm only when its interval's lower bound
        exceeds ``min_effect`` (or, without an interval, its point estimate does). Default
        False: the best allowed drug by point estimate, with its confidence shown.
    min_effect : float
        The smallest effect worth a change from the reference arm (outcome units): the
        recommended drug's point estimate (``require_benefit=False``) or lower bound
        (``True``) must exceed it.
    n_drivers : int
        Covariates listed per row (0 for none).
    drivers : {"shap", "linear"} or Attribution
        How the drivers are read (:func:`causalrx.explain.explain_effects`), or attributions
        already computed for these patients and drugs, in their order (then ``X`` is not read).
    random_state : int, optional
        Seed of the tree surrogate's folds (``drivers="shap"``).
    """
    if not isinstance(effect, EffectEstimate):
        raise ValidationError(f"effect: expected an EffectEstimate, got {type(effect).__name__}")
    require_differences(effect)
    if isinstance(mask, DecisionProblem):
        problem = mask
        if problem.reference != effect.reference:
            raise ValidationError(f"effect: its reference arm {effect.reference!r} differs from the problem's {problem.reference!r}")
        effect = effect.reindex(problem.patient_ids, problem.drugs)
        mask = problem.safety if problem.safety is not None else problem.allowed
        X = problem.X if X is None else X
        patient_ids = problem.patient_ids
    elif isinstance(mask, Mask) and patient_ids is None and pd.Index(mask.patient_ids).isin(effect.patient_ids).all() \
            and len(mask.patient_ids) == len(effect.patient_ids):  # fmt: skip
        patient_ids = effect.patient_ids  # the effect's rows are labelled: align the mask by id
    ite, lower, upper = (np.asarray(a, dtype=float) for a in (effect.ite, effect.lower, effect.upper))
    n, k = ite.shape
    names = tuple(effect.action_names)
    if not np.isfinite(ite).all():
        raise ValidationError(f"effect: the ite contains {int((~np.isfinite(ite)).sum())} non-finite value(s); effects must be finite to rank drugs")
    check_number("min_effect", min_effect, zero_ok=True)
    if not isinstance(require_benefit, (bool, np.bool_)):
        raise ValidationError(f"require_benefit: expected True or False, got {require_benefit!r}")
    if isinstance(n_drivers, bool) or not isinstance(n_drivers, (int, np.integer)) or n_drivers < 0:
        raise ValidationError(f"n_drivers: expected a non-negative integer, got {n_drivers!r}")
    if patient_ids is not None:
        given = np.asarray(patient_ids)
        labelled = not np.array_equal(effect.patient_ids, np.arange(n))
        if labelled and (given.shape != effect.patient_ids.shape or not np.array_equal(given, effect.patient_ids)):
            raise ValidationError("patient_ids: they differ from the patient ids the effect carries for its rows; omit "
                                  "patient_ids (the effect's own ids are used) or reorder with effect.reindex(ids)")  # fmt: skip
    if isinstance(mask, Mask) and patient_ids is not None:
        mask = mask.reindex(patient_ids=patient_ids)  # the effect's rows are these patients: align the mask by id
    allowed, reason, dose_note, pending_data, mask_ids = _mask_cells(mask, names, n)
    ref = effect.reference_index
    if not allowed[:, ref].all():
        raise ValidationError(f"mask: the reference arm {names[ref]!r} is masked for {int((~allowed[:, ref]).sum())} patient(s); "
                              "it must stay allowed so that every patient keeps an option")  # fmt: skip
    if isinstance(X, pd.DataFrame) and mask_ids is not None and not isinstance(X.index, pd.RangeIndex):
        if len(X.index) != len(mask_ids) or not np.array_equal(np.asarray(X.index), mask_ids):
            raise ValidationError("X: its index (patient ids) does not follow the mask's patient order; reorder X "
                                  "(and the effect rows) to mask.patient_ids")  # fmt: skip
    ids = np.asarray(patient_ids) if patient_ids is not None else (mask_ids if mask_ids is not None else np.arange(n))
    if len(ids) != n:
        raise ValidationError(f"patient_ids: expected {n} ids to match the effect's rows, got {len(ids)}")

    z = norm.ppf(1 - effect.alpha / 2)
    se = (upper - lower) / (2 * z)
    with np.errstate(divide="ignore", invalid="ignore"):
        beats_reference = np.where(se > 0, norm.cdf(ite / se), np.where(ite > 0, 1.0, np.where(ite < 0, 0.0, 0.5)))
    beats_reference[:, ref] = np.nan
    has_interval = np.isfinite(lower) & np.isfinite(upper)
    evidence = np.where(has_interval, lower, ite) if require_benefit else ite
    eligible = allowed & (evidence > min_effect)
    eligible[:, ref] = True  # the reference arm is always a valid first choice
    best = masked_argmax(ite, eligible)

    # ranks: recommended first, then the other allowed drugs by estimated effect
    score = np.where(allowed, ite, -np.inf)
    score[np.arange(n), best] = np.inf
    order = np.argsort(-score, axis=1, kind="stable")
    rank = np.empty((n, k))
    rank[np.arange(n)[:, None], order] = np.arange(1, k + 1)
    rank[~allowed] = np.nan
    tier = np.where(allowed, "alternative", "contraindicated").astype(object)
    tier[np.arange(n), best] = "recommended"

    others = np.arange(k) != ref
    rival = np.where(allowed[:, others], np.nan_to_num(beats_reference[:, others], nan=0.0), 0.0)
    reference_conf = 1 - rival.max(axis=1) if k > 1 else np.ones(n)
    confidence = beats_reference.copy()
    confidence[~has_interval & others] = np.nan
    rivals_known = (has_interval | ~allowed)[:, others].all(axis=1)
    confidence[:, ref] = np.where(rivals_known, reference_conf, np.nan)

    drivers, r2 = _drivers(ite, X, feature_names, n_drivers, names, ref, drivers, random_state)
    table = pd.DataFrame({
        "patient_id": np.repeat(ids, k), "drug": np.tile(np.asarray(names, dtype=object), n), "tier": tier.ravel(),
        "rank": rank.ravel(), "effect": ite.ravel(), "lower": lower.ravel(), "upper": upper.ravel(),
        "confidence": confidence.ravel(), "reason": reason.ravel(), "dose_note": dose_note.ravel(),
        "pending_data": pending_data.ravel(), "drivers": drivers.ravel(),
    })  # fmt: skip
    return Recommendations(table=table, surrogate_r2=r2, method=effect.method)


def _mask_cells(mask, names, n):
    """Allowed (n, k) in the effect's drug order, with the reasons, dose notes and missing fields per cell."""
    k = len(names)
    if isinstance(mask, Mask):
        missing = [d for d in names if d not in mask.drugs]
        if missing:
            raise ValidationError(f"mask: drug(s) {missing} of the effect estimate are not in the mask (mask drugs: {list(mask.drugs)})")
        if len(mask.patient_ids) != n:
            raise ValidationError(f"mask: expected {n} patients to match the effect's rows, got {len(mask.patient_ids)}")
        cols = [mask.drugs.index(d) for d in names]
        reason, dose_note, pending = (a[:, cols] for a in mask.cell_notes())
        return np.asarray(mask.allowed, dtype=bool)[:, cols], reason, dose_note, pending, np.asarray(mask.patient_ids)
    allowed = np.asarray(mask)
    if allowed.shape != (n, k):
        raise ValidationError(f"mask: expected a bool array of shape ({n}, {k}) to match the effect, got {allowed.shape}")
    if allowed.dtype != bool:
        raise ValidationError(f"mask: expected a bool array (True = allowed), got dtype {allowed.dtype}")
    reason = np.full((n, k), "", dtype=object)
    reason[~allowed] = "masked by the safety mask (pass the Mask for its rules)"
    return allowed, reason, np.full((n, k), "", dtype=object), np.full((n, k), "", dtype=object), None


def _drivers(ite, X, feature_names, n_drivers, names, ref, method, random_state):
    """Top covariate contributions per cell, and the surrogate's R^2 per drug."""
    from causalrx.explain import METHODS, Attribution, explain_effects

    if isinstance(method, Attribution):
        if method.n_patients != ite.shape[0]:
            raise ValidationError(f"drivers: the attributions are for {method.n_patients} patients, the effect for {ite.shape[0]}")
        return method.drivers(list(names), n_drivers), method.fidelity_r2.reindex(list(names)).rename("surrogate_r2")
    if method not in METHODS:
        raise ValidationError(f"drivers: expected one of {METHODS}, got {method!r}")
    n, k = ite.shape
    empty = np.full((n, k), "", dtype=object)
    if X is None or n_drivers == 0:
        return empty, pd.Series(np.nan, index=list(names), name="surrogate_r2")
    if isinstance(X, pd.DataFrame):
        feature_names = list(X.columns) if feature_names is None else feature_names
        X = X.to_numpy(dtype=float)
    X = check_context("X", X)  # 2-d and finite, naming the columns that are not
    if X.shape[0] != n:
        raise ValidationError(f"X: expected a 2-D array with {n} rows to match the effect, got shape {X.shape}")
    names_f = list(feature_names) if feature_names is not None else [f"x{j}" for j in range(X.shape[1])]
    if len(names_f) != X.shape[1]:
        raise ValidationError(f"feature_names: expected {X.shape[1]} names, got {len(names_f)}")
    effects = np.where(np.arange(k) == ref, 0.0, ite)  # the reference arm: no effect to explain
    attribution = explain_effects(effects, pd.DataFrame(X, columns=names_f), list(names), method=method, random_state=random_state)
    r2 = attribution.fidelity_r2.reindex(list(names)).rename("surrogate_r2")
    return attribution.drivers(list(names), n_drivers), r2
