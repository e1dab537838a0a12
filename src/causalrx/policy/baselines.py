"""Baseline policies every learned policy is compared with.

* :class:`LoggedPolicy` - the clinicians, by behaviour cloning (a calibrated classifier of
  the logged drug), restricted to allowed drugs;
* :class:`UniformPolicy` - uniform over the allowed drugs;
* :class:`ReferencePolicy` - always the reference arm (always allowed);
* :class:`GuidelinePolicy` - a treatment guideline written as data: ordered steps, each a
  condition in the rule language of :mod:`causalrx.safety.rules` and a preference list of
  drugs; a patient gets the first allowed drug of the first step that applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV

from causalrx.data.schema import PATIENT_ID
from causalrx.effects.propensity import default_classifier
from causalrx.exceptions import ValidationError
from causalrx.policy.base import PolicyBase, as_covariates, as_mask, check_logged
from causalrx.safety.files import read_yaml as _read_yaml
from causalrx.safety.mask import Mask, patient_fields
from causalrx.safety.rules import Condition, _compile, _fields_in
from causalrx.safety.scores import restrict
from causalrx.safety.vocabulary import Vocabulary, default_vocabulary


@dataclass
class LoggedPolicy(PolicyBase):
    """Behaviour cloning of the logged (clinician) policy.

    Parameters
    ----------
    classifier : scikit-learn classifier, optional
        Default: standardised multinomial logistic regression, calibrated (sigmoid, 3 folds).
    calibration : {"sigmoid", "isotonic", None}
    reference : int
        Drug that takes the mass of a row whose every likely drug is masked.
    """

    classifier: object = None
    calibration: str | None = "sigmoid"
    reference: int = 0

    def fit(self, Z, action, reward=None, *, n_actions: int | None = None, mask=None):
        """Fit the classifier of the logged drug on covariates Z. ``reward`` and ``mask`` are unused (the clinicians' choices are what they are)."""
        Z, action, _, k = check_logged(Z, action, np.zeros(len(action)), n_actions)
        base = clone(self.classifier) if self.classifier is not None else default_classifier()
        model = CalibratedClassifierCV(base, method=self.calibration, cv=3) if self.calibration else base
        self.model_ = model.fit(Z, action)
        self.n_actions_ = k
        return self

    def action_dist(self, Z, mask=None) -> np.ndarray:
        self._require_fit()
        Z = as_covariates(Z)
        proba = np.zeros((len(Z), self.n_actions_))
        proba[:, self.model_.classes_] = self.model_.predict_proba(Z)
        return restrict(proba, as_mask(mask, len(Z), self.n_actions_), fallback=self.reference)


@dataclass
class UniformPolicy(PolicyBase):
    """Uniform random choice among the allowed drugs (``n_actions`` of them)."""

    n_actions: int

    def action_dist(self, Z, mask=None) -> np.ndarray:
        n = len(Z)
        allowed = as_mask(mask, n, self.n_actions).astype(float)
        return allowed / allowed.sum(axis=1, keepdims=True)


@dataclass
class ReferencePolicy(PolicyBase):
    """Always the reference arm (standard care / refer), which every mask allows."""

    n_actions: int
    reference: int = 0

    def action_dist(self, Z, mask=None) -> np.ndarray:
        n = len(Z)
        allowed = as_mask(mask, n, self.n_actions)
        if not allowed[:, self.reference].all():
            raise ValidationError(f"mask: the reference arm (drug {self.reference}) is masked for some patients")
        dist = np.zeros((n, self.n_actions))
        dist[:, self.reference] = 1.0
        return dist


@dataclass(frozen=True)
class GuidelineStep:
    """One step of a guideline: when ``condition`` holds, prefer ``prefer`` in that order."""

    id: str
    condition: Condition | None
    prefer: tuple[str, ...]
    source: str = ""


STEP_KEYS = {"id", "when", "prefer", "source"}


@dataclass
class GuidelinePolicy(PolicyBase):
    """A guideline written as data, evaluated on named patient fields (not on embeddings).

    ``steps`` is a list of mappings ``{id, when, prefer, source}``; ``when`` is a condition
    of the safety rule language (omit it for a step that always applies) and ``prefer`` an
    ordered list of drug names. A step applies when its condition is *known* to hold.
    Patients whom no step serves get the reference arm.

    ``action_dist(patients, mask)`` takes a :class:`~causalrx.data.Cohort` or a DataFrame
    of patient fields in the order of the mask's rows.

    Examples
    --------
    >>> steps = [{"id": "dm", "when": {"field": "diabetes", "is": True}, "prefer": ["metformin"]},
    ...          {"id": "af", "when": {"field": "atrial_fibrillation", "is": True}, "prefer": ["warfarin"]}]
    >>> policy = GuidelinePolicy(steps, action_names=("standard_care", "metformin", "warfarin"))
    """

    steps: list
    action_names: tuple[str, ...]
    reference: str | None = None
    vocabulary: Vocabulary = field(default_factory=default_vocabulary)

    def __post_init__(self) -> None:
        self.action_names = tuple(self.action_names)
        self.reference = self.reference or self.action_names[0]
        if self.reference not in self.action_names:
            raise ValidationError(f"reference: {self.reference!r} is not one of the drugs {self.action_names}")
        self.steps_ = [self._parse(raw, i) for i, raw in enumerate(self.steps)]
        self.n_actions_ = len(self.action_names)

    @classmethod
    def from_yaml(cls, path: str | Path, action_names, reference: str | None = None) -> GuidelinePolicy:
        """Read ``steps:`` from a YAML file (errors name the file and line)."""
        data = _read_yaml(Path(path))
        if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
            raise ValidationError(f"{path}: expected a mapping with a list under 'steps'")
        return cls(list(data["steps"]), tuple(action_names), reference)

    def _parse(self, raw, i: int) -> GuidelineStep:
        where = f"guideline step {i}"
        if not isinstance(raw, dict):
            raise ValidationError(f"{where}: expected a mapping with id, when, prefer, got {raw!r}")
        unknown = sorted(set(raw) - STEP_KEYS)
        if unknown or "prefer" not in raw:
            raise ValidationError(f"{where}: needs 'prefer' (and optionally id, when, source); unknown key(s) {unknown}")
        prefer = raw["prefer"]
        if not isinstance(prefer, list) or not prefer:
            raise ValidationError(f"{where}: 'prefer' must be a non-empty list of drug names")
        missing = [d for d in prefer if d not in self.action_names]
        if missing:
            raise ValidationError(f"{where}: drug(s) {missing} are not among {self.action_names}")
        condition = Condition(_compile(raw["when"], self.vocabulary, where)) if "when" in raw else None
        return GuidelineStep(str(raw.get("id", i)), condition, tuple(prefer), str(raw.get("source", "")))

    def choices(self, patients, mask=None) -> tuple[np.ndarray, np.ndarray]:
        """(drug index, id of the step that chose it or '' for the reference fallback) per patient."""
        table = patient_fields(patients)
        n, k = len(table), self.n_actions_
        if isinstance(mask, Mask):  # align by patient id and drug name, never by position
            ids = table[PATIENT_ID].to_numpy() if PATIENT_ID in table.columns else None  # without ids: rows as given
            mask = mask.reindex(patient_ids=ids, drugs=self.action_names)
        allowed = as_mask(mask, n, k)
        needed = sorted({f for s in self.steps_ if s.condition is not None for f in _fields_in(s.condition.spec)})
        columns = self.vocabulary.columns(table, needed)
        ref = self.action_names.index(self.reference)
        if not allowed[:, ref].all():
            raise ValidationError(f"mask: the reference arm {self.reference!r} is masked for {int((~allowed[:, ref]).sum())} "
                                  "patient(s); it must stay allowed (it is the fallback)")  # fmt: skip
        choice = np.full(n, -1)
        step_id = np.full(n, "", dtype=object)
        index = {d: j for j, d in enumerate(self.action_names)}
        for step in self.steps_:
            applies = np.ones(n, bool) if step.condition is None else step.condition.evaluate(columns, n)[0]
            for drug in step.prefer:
                take = applies & (choice < 0) & allowed[:, index[drug]]
                choice[take] = index[drug]
                step_id[take] = step.id
        choice[choice < 0] = ref
        return choice, step_id

    def action_dist(self, patients, mask=None) -> np.ndarray:
        choice, _ = self.choices(patients, mask)
        return np.eye(self.n_actions_)[choice]
