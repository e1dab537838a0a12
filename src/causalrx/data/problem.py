"""One aligned decision problem: who the patients are, what is known of them, which drugs, which are safe.

Everything a decision needs travels together and is matched by *label*: rows by patient
id, drugs by name, the reference arm by name. Effects, policies, off-policy evaluation,
``compare`` and ``recommend`` accept a :class:`DecisionProblem` and return results that
carry the same ids and names, so no stage assumes where the reference arm sits or that
two arrays happen to list patients in the same order.

Positional arrays are accepted at the boundary (:meth:`DecisionProblem.from_arrays`) and
converted there, once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from causalrx.data.feedback import BanditFeedback, _actions_as_index, _check_pscore, check_context, check_finite_vector
from causalrx.data.schema import PATIENT_ID
from causalrx.exceptions import ValidationError


def label_positions(name: str, have, want, what: str = "label", absent: str = "unknown here") -> np.ndarray:
    """Positions of the labels ``want`` in ``have`` (unique labels); a named error for unknown or repeated ones."""
    index = pd.Index(list(have))
    want = list(want)
    pos = index.get_indexer(want)
    if (pos < 0).any():
        unknown = [w for w, p in zip(want, pos) if p < 0][:5]
        raise ValidationError(f"{name}: {int((pos < 0).sum())} {what}(s) {absent}, e.g. {unknown}; known: {list(index[:10])}")
    if len(set(pos.tolist())) != len(pos):
        raise ValidationError(f"{name}: {what}s repeat; each must appear once")
    return pos


def _unique_ids(name: str, ids) -> pd.Index:
    ids = pd.Index(ids, name=PATIENT_ID)
    if ids.hasnans:
        raise ValidationError(f"{name}: {int(ids.isna().sum())} missing patient id(s)")
    if not ids.is_unique:
        raise ValidationError(f"{name}: patient ids repeat, e.g. {list(ids[ids.duplicated()].unique()[:5])}")
    return ids


def _aligned_mask(mask, ids: pd.Index, drugs: tuple[str, ...], reference: str):
    """``(allowed bool (n, k), Mask or None)`` with rows in ``ids`` order and columns in ``drugs`` order."""
    if mask is None:
        return np.ones((len(ids), len(drugs)), dtype=bool), None
    if hasattr(mask, "reindex") and hasattr(mask, "allowed") and hasattr(mask, "patient_ids"):  # a safety Mask
        if mask.reference != reference:
            raise ValidationError(f"mask: its reference arm is {mask.reference!r}, the problem's is {reference!r}")
        aligned = mask.reindex(ids.to_numpy(), drugs)
        return aligned.allowed, aligned
    if isinstance(mask, pd.DataFrame):
        rows = label_positions("mask.index", mask.index, ids, "patient id")
        cols = label_positions("mask.columns", mask.columns, drugs, "drug")
        allowed = mask.to_numpy()[np.ix_(rows, cols)]
        if allowed.dtype != bool:
            raise ValidationError(f"mask: expected bool values (True = drug allowed), got dtype {allowed.dtype}")
        return allowed, None
    allowed = np.asarray(mask)
    if allowed.shape != (len(ids), len(drugs)) or allowed.dtype != bool:
        raise ValidationError(f"mask: expected a safety Mask, a bool DataFrame (patient ids x drugs) or a bool array of "
                              f"shape ({len(ids)}, {len(drugs)}) in the problem's order; got {allowed.dtype} {allowed.shape}")  # fmt: skip
    return allowed, None


@dataclass(frozen=True, eq=False)
class DecisionProblem:
    """Patients, their covariates, the drugs, the reference arm, the safety mask and, where
    logged data exist, what was given, what followed and how likely it was.

    Parameters
    ----------
    X : DataFrame
        Pre-treatment covariates or embeddings, one row per patient, indexed by unique
        patient id; finite values (impute first, :mod:`causalrx.prep`).
    drugs : sequence of str
        The drugs, by name, in the order results are reported.
    reference : str
        The reference arm (standard care / no drug): one of ``drugs``, at any position.
    mask : Mask, bool DataFrame or bool array, optional
        Safety: a :class:`causalrx.safety.Mask` or a bool DataFrame (patient ids x drug
        names), matched by label; a bare bool array is taken in the problem's order. The
        reference arm must stay allowed for every patient. ``None`` allows every drug.
    action : array or Series (n,), optional
        The logged drug per patient, by name (or index into ``drugs``). A Series is matched
        by patient id.
    reward : array or Series (n,), optional
        The observed reward (higher is better); a Series is matched by patient id.
    propensity : DataFrame or array (n, k), optional
        Logging probability of every drug per patient (rows sum to 1); a DataFrame is
        matched by patient id and drug name.

    Attributes
    ----------
    patient_ids : ndarray
    allowed : bool ndarray (n, k)
        True = the drug may be chosen for the patient.
    safety : Mask or None
        The full safety mask (reasons, sources, not-evaluable cells) aligned with the problem.
    """

    X: pd.DataFrame
    drugs: tuple[str, ...]
    reference: str
    mask: object = None
    action: object = None
    reward: object = None
    propensity: object = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.X, pd.DataFrame):
            raise ValidationError("X: expected a DataFrame indexed by patient id (use DecisionProblem.from_arrays for bare arrays)")
        ids = _unique_ids("X.index", self.X.index)
        values = check_context("X", self.X.to_numpy(dtype=float))
        set_(self, "X", pd.DataFrame(values, index=ids, columns=[str(c) for c in self.X.columns]))
        drugs = tuple(str(d) for d in self.drugs)
        if len(drugs) < 2 or len(set(drugs)) != len(drugs):
            raise ValidationError(f"drugs: expected at least 2 unique drug names, got {drugs}")
        if self.reference not in drugs:
            raise ValidationError(f"reference: {self.reference!r} is not one of the drugs {list(drugs)}")
        set_(self, "drugs", drugs)
        allowed, safety = _aligned_mask(self.mask, ids, drugs, self.reference)
        ref = drugs.index(self.reference)
        if not allowed[:, ref].all():
            raise ValidationError(f"mask: the reference arm {self.reference!r} is masked for {int((~allowed[:, ref]).sum())} "
                                  "patient(s); it must stay allowed so every patient keeps an option")  # fmt: skip
        set_(self, "mask", safety if safety is not None else allowed)
        set_(self, "_allowed", allowed)
        set_(self, "_safety", safety)
        if self.action is not None:
            set_(self, "action", _actions_as_index("action", self._by_id("action", self.action), drugs))
        if self.reward is not None:
            set_(self, "reward", check_finite_vector("reward", self._by_id("reward", self.reward), len(ids), what="reward"))
        if self.propensity is not None:
            set_(self, "propensity", self._check_propensity(self.propensity))

    # ------------------------------------------------------------ construction
    @classmethod
    def from_arrays(cls, X, drugs, reference: str, *, patient_ids=None, feature_names=None, **logged) -> DecisionProblem:
        """The boundary for positional data: rows are patients in ``patient_ids`` order
        (default ``0..n-1``), columns of ``mask``/``propensity`` are ``drugs`` in order."""
        X = np.asarray(X, dtype=float)
        if X.ndim != 2:
            raise ValidationError(f"X: expected a 2-d array (patients, features), got shape {X.shape}")
        ids = np.arange(len(X)) if patient_ids is None else patient_ids
        cols = feature_names if feature_names is not None else [f"x{j}" for j in range(X.shape[1])]
        return cls(X=pd.DataFrame(X, index=ids, columns=cols), drugs=drugs, reference=reference, **logged)

    @classmethod
    def from_cohort(cls, cohort, X=None, *, reward="efficacy", mask=None, visit: int = 0, propensity=None) -> DecisionProblem:
        """The decision at ``visit`` of a :class:`~causalrx.data.Cohort`.

        ``X`` defaults to the cohort's feature table (which must have no missing values);
        pass a DataFrame of embeddings indexed by patient id instead. ``reward`` names an
        outcome column or is a :class:`~causalrx.data.Utility` of efficacy and adverse
        event. ``mask`` is a :class:`~causalrx.safety.Mask` (or ``RuleSet``, evaluated here).
        """
        from causalrx.data.utility import Utility

        X = cohort.feature_table() if X is None else X
        action = cohort.logged_actions(visit)
        if (action < 0).any():
            raise ValidationError(f"treatments: {int((action < 0).sum())} patient(s) have no logged drug at visit {visit}")
        if isinstance(reward, Utility):
            values = reward(cohort.outcome("efficacy", visit), cohort.outcome("adverse_event", visit))
        else:
            values = cohort.outcome(reward, visit)
        ids = pd.Index(cohort.patient_ids, name=PATIENT_ID)
        if hasattr(mask, "evaluate"):
            mask = mask.evaluate(cohort, cohort.action_names, cohort.reference)
        if not isinstance(X, pd.DataFrame):
            raise ValidationError("X: expected a DataFrame indexed by patient id")
        take = label_positions("X.index", X.index, ids, "patient id") if len(X) == len(ids) else None
        if take is None:
            raise ValidationError(f"X: has {len(X)} row(s), the cohort {len(ids)} patient(s); index X by the cohort's ids")
        return cls(X=X.iloc[take], drugs=cohort.action_names, reference=cohort.reference, mask=mask,
                   action=pd.Series(action, index=ids), reward=pd.Series(values, index=ids), propensity=propensity)  # fmt: skip

    # ------------------------------------------------------------------ views
    @property
    def patient_ids(self) -> np.ndarray:
        return self.X.index.to_numpy()

    @property
    def n_patients(self) -> int:
        return len(self.X)

    @property
    def n_actions(self) -> int:
        return len(self.drugs)

    @property
    def reference_index(self) -> int:
        return self.drugs.index(self.reference)

    @property
    def allowed(self) -> np.ndarray:
        return self._allowed

    @property
    def safety(self):
        return self._safety

    @property
    def has_logged(self) -> bool:
        return self.action is not None and self.reward is not None

    def pscore(self) -> np.ndarray | None:
        """Logging probability of each logged drug, or None."""
        if self.propensity is None or self.action is None:
            return None
        return self.propensity[np.arange(self.n_patients), self.action]

    def feedback(self) -> BanditFeedback:
        """The logged decisions as :class:`~causalrx.data.BanditFeedback` (rows in problem order)."""
        if not self.has_logged:
            raise ValidationError("DecisionProblem: no logged action and reward to evaluate with")
        return BanditFeedback(context=self.X.to_numpy(), action=self.action, reward=self.reward, action_names=self.drugs,
                              pscore=self.pscore(), mask=self.allowed)  # fmt: skip

    def frame(self, values: np.ndarray) -> pd.DataFrame:
        """An (n, k) array in problem order as a DataFrame of patient ids x drug names."""
        return pd.DataFrame(values, index=self.X.index, columns=pd.Index(self.drugs, name="drug"))

    # -------------------------------------------------- subsetting/reordering
    def take(self, patient_ids) -> DecisionProblem:
        """The problem for ``patient_ids``, in that order (named error for unknown ids)."""
        rows = label_positions("patient_ids", self.X.index, patient_ids, "patient id")
        return self._rows(rows)

    def _rows(self, rows: np.ndarray) -> DecisionProblem:
        ids = self.X.index[rows]
        mask = self._safety.reindex(ids.to_numpy(), self.drugs) if self._safety is not None else self._allowed[rows]
        take = lambda a: None if a is None else a[rows]  # noqa: E731
        action = None if self.action is None else np.asarray(self.drugs, dtype=object)[self.action[rows]]
        return DecisionProblem(X=self.X.iloc[rows], drugs=self.drugs, reference=self.reference, mask=mask, action=action,
                               reward=take(self.reward), propensity=take(self.propensity))  # fmt: skip

    def reorder(self, drugs) -> DecisionProblem:
        """The same problem with drugs listed in the order ``drugs`` (every drug, once)."""
        cols = label_positions("drugs", self.drugs, drugs, "drug")
        if len(cols) != len(self.drugs):
            raise ValidationError(f"drugs: expected all {len(self.drugs)} drugs of the problem, got {len(cols)}")
        drugs = tuple(self.drugs[j] for j in cols)
        mask = self._safety.reindex(self.patient_ids, drugs) if self._safety is not None else self._allowed[:, cols]
        action = None if self.action is None else np.asarray(self.drugs, dtype=object)[self.action]
        propensity = None if self.propensity is None else self.propensity[:, cols]
        return replace(self, drugs=drugs, mask=mask, action=action, propensity=propensity)

    def with_mask(self, mask) -> DecisionProblem:
        """The same problem under another safety mask (matched by label)."""
        action = None if self.action is None else np.asarray(self.drugs, dtype=object)[self.action]
        return replace(self, mask=mask, action=action)

    def align_columns(self, names) -> np.ndarray:
        """X as an array with its columns in the order ``names`` (those a model was fitted on)."""
        cols = label_positions("X.columns", self.X.columns, names, "covariate")
        return self.X.to_numpy()[:, cols]

    # --------------------------------------------------------------- helpers
    def _by_id(self, name: str, values):
        if isinstance(values, pd.Series):
            rows = label_positions(f"{name}.index", values.index, self.X.index, "patient id")
            values = values.to_numpy()[rows]
        values = np.asarray(values)
        if values.shape[:1] != (len(self.X),):
            raise ValidationError(f"{name}: expected {len(self.X)} value(s), one per patient, got shape {values.shape}")
        return values

    def _check_propensity(self, propensity) -> np.ndarray:
        n, k = len(self.X), len(self.drugs)
        if isinstance(propensity, pd.DataFrame):
            rows = label_positions("propensity.index", propensity.index, self.X.index, "patient id")
            cols = label_positions("propensity.columns", propensity.columns, self.drugs, "drug")
            propensity = propensity.to_numpy(dtype=float)[np.ix_(rows, cols)]
        p = np.asarray(propensity, dtype=float)
        if p.shape != (n, k):
            raise ValidationError(f"propensity: expected shape ({n}, {k}) (patients x drugs), got {p.shape}")
        if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
            raise ValidationError("propensity: values must be finite probabilities in [0, 1]")
        off = np.abs(p.sum(axis=1) - 1) > 1e-6
        if off.any():
            raise ValidationError(f"propensity: {int(off.sum())} row(s) do not sum to 1")
        if self.action is not None:
            _check_pscore("propensity of the logged drug", p[np.arange(n), self.action], n)
        return p

