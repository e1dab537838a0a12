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

from causalrx.data.problem import DecisionProblem, label_positions
from causalrx.data.schema import PATIENT_ID
from causalrx.effects.propensity import default_classifier
from causalrx.exceptions import ValidationError
from causalrx.policy.base import PolicyBase, as_covariates, as_mask, check_logged
from causalrx.safety.files import read_yaml as _read_yaml
from causalrx.safety.mask import Mask, patient_fields
from causalrx.safety.rules import Condition, _compile, _fields_in
from causalrx.safety.scores import restrict
from causalrx.safety.vocabulary import Vocabulary, default_vocabulary


@dataclass(repr=False, eq=False)
class LoggedPolicy(PolicyBase):
    """Behaviour cloning of the logged (clinician) policy.

    Parameters
    ----------
    classifier : scikit-learn classifier, optional
        Default: standardised multinomial logistic regression, calibrated (sigmoid, 3 folds).
    calibration : {"sigmoid", "isotonic", None}

    The reference arm (named at ``fit``, or the problem's) takes the mass of a row whose
    every likely drug is masked.
    """

    classifier: object = None
    calibration: str | None = "sigmoid"

    def fit(self, X, action, reward=None, *, n_actions: int | None = None, mask=None, action_names=None, reference=None):
        """Fit the classifier of the logged drug on covariates X (or a DecisionProblem).

        ``reward`` and ``mask`` are unused (the clinicians' choices are what they are);
        ``reference`` (name or index, default the first drug) is the fallback arm.
        """
        X, action, _, k = check_logged(X, action, np.zeros(len(action)), n_actions)
        base = clone(self.classifier) if self.classifier is not None else default_classifier()
        model = CalibratedClassifierCV(base, method=self.calibration, cv=3) if self.calibration else base
        self.model_ = model.fit(X, action)
        self.n_actions_ = k
        return self

    def action_dist(self, X, mask=None) -> np.ndarray:
        self._require_fit()
        X = as_covariates(X)
        proba = np.zeros((len(X), self.n_actions_))
        proba[:, self.model_.classes_] = self.model_.predict_proba(X)
        return restrict(proba, as_mask(mask, len(X), self.n_actions_), fallback=self.drugs_.index(self.reference_))


@dataclass(repr=False, eq=False)
class UniformPolicy(PolicyBase):
    """Uniform random choice among the allowed drugs (``n_actions`` of them; a DecisionProblem gives its own)."""

    n_actions: int | None = None

    def action_dist(self, X, mask=None) -> np.ndarray:
        n = len(X)
        k = self.n_actions
        if k is None:
            if mask is None:
                raise ValidationError("n_actions: give the number of drugs, a mask, or a DecisionProblem")
            k = np.shape(getattr(mask, "allowed", mask))[1]
        allowed = as_mask(mask, n, k).astype(float)
        return allowed / allowed.sum(axis=1, keepdims=True)


@dataclass(repr=False, eq=False)
class ReferencePolicy(PolicyBase):
    """Always the reference arm (standard care / refer), which every mask allows.

    With a :class:`~causalrx.data.problem.DecisionProblem` the arm is the problem's
    reference; with arrays, ``reference`` gives its column (there is no default position).
    """

    n_actions: int | None = None
    reference: int | None = None

    def action_dist(self, X, mask=None):
        if isinstance(X, DecisionProblem):
            if mask is not None:
                raise ValidationError("mask: a DecisionProblem carries its own mask")
            dist = np.zeros((X.n_patients, X.n_actions))
            dist[:, X.reference_index] = 1.0
            return X.frame(dist)
        if self.n_actions is None or self.reference is None:
            raise ValidationError("reference: with arrays, give n_actions and the reference arm's column index")
        n = len(X)
        allowed = as_mask(mask, n, self.n_actions)
        if not allowed[:, self.reference].all():
            raise ValidationError(f"mask: the reference arm (drug {self.reference}) is masked for some patients")
        dist = np.zeros((n, self.n_actions))
        dist[:, self.reference] = 1.0
        return dist

    action_dist.__wrapped_problem__ = True


@dataclass(frozen=True)
class GuidelineStep:
    """One step of a guideline: when ``condition`` holds, prefer ``prefer`` in that order."""

    id: str
    condition: Condition | None
    prefer: tuple[str, ...]
    source: str = ""


STEP_KEYS = {"id", "when", "prefer", "source"}


@dataclass(repr=False, eq=False)
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
        """Check the steps now (errors name the step); the parameters themselves stay as given."""
        self.drugs_ = tuple(str(d) for d in self.action_names)
        self.reference_ = self.drugs_[0] if self.reference is None else self.reference
        if self.reference_ not in self.drugs_:
            raise ValidationError(f"reference: {self.reference_!r} is not one of the drugs {self.drugs_}")
        self.steps_ = [self._parse(raw, i) for i, raw in enumerate(self.steps)]
        self.n_actions_ = len(self.drugs_)

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
        missing = [d for d in prefer if d not in self.drugs_]
        if missing:
            raise ValidationError(f"{where}: drug(s) {missing} are not among {self.drugs_}")
        condition = Condition(_compile(raw["when"], self.vocabulary, where)) if "when" in raw else None
        return GuidelineStep(str(raw.get("id", i)), condition, tuple(prefer), str(raw.get("source", "")))

    def choices(self, patients, mask=None) -> tuple[np.ndarray, np.ndarray]:
        """(drug index, id of the step that chose it or '' for the reference fallback) per patient."""
        table = patient_fields(patients)
        n, k = len(table), self.n_actions_
        if isinstance(mask, Mask):  # align by patient id and drug name, never by position
            ids = table[PATIENT_ID].to_numpy() if PATIENT_ID in table.columns else None  # without ids: rows as given
            mask = mask.reindex(patient_ids=ids, drugs=self.drugs_)
        allowed = as_mask(mask, n, k)
        needed = sorted({f for s in self.steps_ if s.condition is not None for f in _fields_in(s.condition.spec)})
        columns = self.vocabulary.columns(table, needed)
        ref = self.drugs_.index(self.reference_)
        if not allowed[:, ref].all():
            raise ValidationError(f"mask: the reference arm {self.reference_!r} is masked for {int((~allowed[:, ref]).sum())} "
                                  "patient(s); it must stay allowed (it is the fallback)")  # fmt: skip
        choice = np.full(n, -1)
        step_id = np.full(n, "", dtype=object)
        index = {d: j for j, d in enumerate(self.drugs_)}
        for step in self.steps_:
            applies = np.ones(n, bool) if step.condition is None else step.condition.evaluate(columns, n)[0]
            for drug in step.prefer:
                take = applies & (choice < 0) & allowed[:, index[drug]]
                choice[take] = index[drug]
                step_id[take] = step.id
        choice[choice < 0] = ref
        return choice, step_id

    def action_dist(self, patients, mask=None):
        """One-hot choices; for a DecisionProblem (whose ``X`` holds the guideline's fields) a DataFrame of ids x drugs."""
        if isinstance(patients, DecisionProblem):
            problem = patients
            if mask is not None:
                raise ValidationError("mask: a DecisionProblem carries its own mask")
            cols = label_positions("drugs", problem.drugs, self.drugs_, "drug")
            fields = problem.X.reset_index()
            choice, _ = self.choices(fields, problem.safety if problem.safety is not None else problem.allowed[:, cols])
            out = np.zeros((problem.n_patients, problem.n_actions))
            out[np.arange(problem.n_patients), cols[choice]] = 1.0
            return problem.frame(out)
        choice, _ = self.choices(patients, mask)
        return np.eye(self.n_actions_)[choice]

    action_dist.__wrapped_problem__ = True
