"""Evaluating a rule set on patients: the mask, with the reason for every masked or flagged cell.

Safety fails closed. A rule that cannot be decided for a patient (a field it needs is not
recorded) is *not evaluable* for that patient; for a ``contraindicated`` rule the drug is then
masked ("pending data"), with a reason that names the missing fields, unless the caller asks
otherwise (``not_evaluable="caution"``, for a sensitivity analysis: the drug stays allowed,
flagged, and a :class:`NotEvaluableWarning` counts the cells let through).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from causalrx.data.problem import label_positions
from causalrx.data.schema import PATIENT_ID, Cohort
from causalrx.exceptions import ValidationError
from causalrx.safety.rules import Rule, _compile, read_rule_file
from causalrx.safety.vocabulary import Vocabulary, default_vocabulary

DEFAULT_FILES = ("pharmacogenomics.yaml", "clinical.yaml")
NOT_EVALUABLE_CHOICES = ("contraindicated", "caution")
FIRED, NOT_EVALUABLE = "fired", "not evaluable"


class NotEvaluableWarning(UserWarning):
    """Contraindicating rules that could not be decided were let through as cautions."""


@dataclass(frozen=True)
class Firing:
    """The patients (row indices, sorted) on whom one rule fired or could not be decided.

    ``status`` is ``"fired"`` or ``"not evaluable"``; for the latter ``missing`` gives, per
    patient, the rule's fields that were not recorded.
    """

    rule: Rule
    patients: np.ndarray
    columns: np.ndarray
    status: str = FIRED
    missing: np.ndarray | None = None

    def text(self) -> np.ndarray:
        """The reason shown for each patient of the firing (object array)."""
        r = self.rule
        cite = f"{r.guideline} {r.year}, {r.strength}"
        if self.status == FIRED:
            return np.full(len(self.patients), f"{r.id}: {r.reason} ({cite}; {r.source})", dtype=object)
        head = f"{r.id}: not evaluable - "
        tail = (f" not recorded; {'masked until it is known' if r.action == 'contraindicated' else 'caution applies if it holds'}"
                f" ({r.reason}; {cite}; {r.source})")  # fmt: skip
        return np.array([head + m + tail for m in self.missing], dtype=object)


@dataclass(frozen=True, eq=False)
class Mask:
    """Result of :meth:`RuleSet.evaluate`.

    Attributes
    ----------
    allowed : bool array (n, k)
        True = the drug may be recommended. False where a contraindicating rule fired, and
        (with the default ``on_not_evaluable="contraindicated"``) where one could not be
        decided. The reference arm is always allowed, so every patient keeps an option.
    flagged : bool array (n, k)
        Allowed cells under a ``caution`` rule that fired or could not be decided, or under a
        contraindicating rule that could not be decided when ``on_not_evaluable="caution"``.
    not_evaluable : bool array (n, k)
        Cells for which some contraindicating rule could not be decided.
    drugs, patient_ids, reference
        Column labels (drug names), row labels (patient ids) and the reference arm's name.
    firings : tuple of Firing
        Which rule fired, or could not be decided, on which patients.
    not_evaluable_by_rule : dict
        Per rule id, how many patients lacked the data to decide it.
    on_not_evaluable : str
        What a contraindicating rule that could not be decided did: ``"contraindicated"``
        (masked, the default) or ``"caution"`` (allowed and flagged).
    indications : dict
        The indication declared per drug (rules of other indications were not applied).
    """

    allowed: np.ndarray
    flagged: np.ndarray
    drugs: tuple[str, ...]
    patient_ids: np.ndarray
    firings: tuple[Firing, ...]
    not_evaluable: np.ndarray
    not_evaluable_by_rule: dict
    reference: str
    on_not_evaluable: str = "contraindicated"
    indications: dict | None = None

    @property
    def pending(self) -> np.ndarray:
        """Cells masked only because a contraindicating rule could not be decided (pending data)."""
        return ~self.allowed & self.not_evaluable & ~self.contraindicated

    @property
    def contraindicated(self) -> np.ndarray:
        """Cells masked by a contraindicating rule that fired."""
        out = np.zeros_like(self.allowed)
        for f in self.firings:
            if f.status == FIRED and f.rule.action == "contraindicated":
                out[np.ix_(f.patients, f.columns)] = True
        return out

    @property
    def only_reference(self) -> np.ndarray:
        """Patient ids for whom every drug but the reference arm is masked."""
        ref = self.drugs.index(self.reference)
        others = np.delete(self.allowed, ref, axis=1)
        return self.patient_ids[~others.any(axis=1)]

    def row(self, patient_id) -> int:
        """Row of ``patient_id`` (a named error when it is not among the mask's patients)."""
        hits = np.flatnonzero(self.patient_ids == patient_id)
        if len(hits) != 1:
            raise ValidationError(f"patient_id: {patient_id!r} is not among the mask's {len(self.patient_ids)} patients")
        return int(hits[0])

    def column(self, drug: str) -> int:
        if drug not in self.drugs:
            raise ValidationError(f"drug: {drug!r} is not one of the mask's drugs {list(self.drugs)}")
        return self.drugs.index(drug)

    def reasons(self, patient_id, drug: str) -> list[dict]:
        """Rules that masked, flagged or could not decide ``drug`` for the patient with id ``patient_id``."""
        i, j = self.row(patient_id), self.column(drug)
        out = []
        for f in self.firings:
            pos = np.searchsorted(f.patients, i)
            if j in f.columns and pos < len(f.patients) and f.patients[pos] == i:
                r = f.rule
                out.append({"rule_id": r.id, "action": r.action, "status": f.status, "reason": r.reason,
                            "missing": f.missing[pos] if f.missing is not None else "", "dose_note": r.dose_note,
                            "guideline": r.guideline, "year": r.year, "strength": r.strength, "source": r.source})  # fmt: skip
        return out

    def cell_notes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per cell (n, k): the reasons (rules fired first), dose notes, and, for cells masked only
        pending data (:attr:`pending`), the fields to record."""
        n, k = self.allowed.shape
        reason, dose, missing = (np.full((n, k), "", dtype=object) for _ in range(3))
        for f in sorted(self.firings, key=lambda f: f.status != FIRED):
            if len(f.patients) == 0:
                continue
            text = f.text()
            for c in f.columns:
                rows = f.patients
                reason[rows, c] = [f"{r}; {t}" if r else t for r, t in zip(reason[rows, c], text)]
                if f.status == FIRED and f.rule.dose_note:
                    dose[rows, c] = [f"{d}; {f.rule.dose_note}" if d else f.rule.dose_note for d in dose[rows, c]]
                if f.status == NOT_EVALUABLE and f.rule.action == "contraindicated":
                    missing[rows, c] = [", ".join(dict.fromkeys((m + ", " + x).split(", "))) if m else x
                                        for m, x in zip(missing[rows, c], f.missing)]  # fmt: skip
        missing[~self.pending] = ""
        return reason, dose, missing

    def to_frame(self) -> pd.DataFrame:
        """Long table: one row per (patient, drug, rule) that masked, flagged or could not decide the drug."""
        columns = ["patient_id", "drug", "rule_id", "action", "status", "missing", "reason", "dose_note", "guideline",
                   "year", "strength", "source"]  # fmt: skip
        frames = []
        for f in self.firings:
            if len(f.patients) == 0 or len(f.columns) == 0:
                continue
            r = f.rule
            pid = np.repeat(self.patient_ids[f.patients], len(f.columns))
            drug = np.tile(np.asarray(self.drugs)[f.columns], len(f.patients))
            missing = np.repeat(f.missing, len(f.columns)) if f.missing is not None else ""
            frames.append(pd.DataFrame({"patient_id": pid, "drug": drug, "rule_id": r.id, "action": r.action, "status": f.status,
                                        "missing": missing, "reason": r.reason, "dose_note": r.dose_note, "guideline": r.guideline,
                                        "year": r.year, "strength": r.strength, "source": r.source}))  # fmt: skip
        return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)

    def rule_summary(self) -> pd.DataFrame:
        """Per rule: action, strength, drugs concerned here, patients it fired on, patients it could not decide."""
        rows: dict[str, dict] = {}
        for f in self.firings:
            r = f.rule
            row = rows.setdefault(r.id, {"rule_id": r.id, "action": r.action, "strength": r.strength, "guideline": r.guideline,
                                         "year": r.year, "drugs": ", ".join(np.asarray(self.drugs)[f.columns]), "patients": 0,
                                         "not_evaluable": self.not_evaluable_by_rule.get(r.id, 0)})  # fmt: skip
            if f.status == FIRED:
                row["patients"] = len(f.patients)
        return pd.DataFrame(list(rows.values()))

    def reindex(self, patient_ids=None, drugs=None) -> Mask:
        """The same mask with rows in the order of ``patient_ids`` and columns in the order of
        ``drugs`` (both matched by label; every label must be in the mask, none twice)."""
        rows = np.arange(len(self.patient_ids)) if patient_ids is None else _positions("patient_ids", self.patient_ids, patient_ids)
        cols = np.arange(len(self.drugs)) if drugs is None else _positions("drugs", np.asarray(self.drugs, dtype=object), drugs)
        if self.reference not in np.asarray(self.drugs)[cols]:
            raise ValidationError(f"drugs: the reference arm {self.reference!r} must stay among the mask's drugs")
        inv_r = np.full(len(self.patient_ids), -1)
        inv_r[rows] = np.arange(len(rows))
        inv_c = np.full(len(self.drugs), -1)
        inv_c[cols] = np.arange(len(cols))
        firings = []
        for f in self.firings:
            new_rows = inv_r[f.patients]
            keep = new_rows >= 0
            order = np.argsort(new_rows[keep], kind="stable")
            new_cols = inv_c[f.columns]
            missing = f.missing[keep][order] if f.missing is not None else None
            firings.append(Firing(f.rule, new_rows[keep][order], np.sort(new_cols[new_cols >= 0]), f.status, missing))
        sub = np.ix_(rows, cols)
        return Mask(allowed=self.allowed[sub], flagged=self.flagged[sub], drugs=tuple(np.asarray(self.drugs)[cols]),
                    patient_ids=self.patient_ids[rows], firings=tuple(firings), not_evaluable=self.not_evaluable[sub],
                    not_evaluable_by_rule=self.not_evaluable_by_rule, reference=self.reference,
                    on_not_evaluable=self.on_not_evaluable, indications=self.indications)  # fmt: skip


def _positions(name: str, have: np.ndarray, want) -> np.ndarray:
    """Positions of the labels ``want`` in ``have``; a named error for unknown or repeated labels."""
    if not pd.Index(have).is_unique:
        raise ValidationError(f"{name}: the mask's labels are not unique")
    return label_positions(name, have, want, "label", absent="are not in the mask")

def patient_fields(data) -> pd.DataFrame:
    """The table rules are evaluated on: clinical joined with genomics phenotypes, clinical order."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Cohort):
        table = data.clinical
        if data.genomics is not None:
            keep = [PATIENT_ID] + [c for c in data.genomics.columns if c not in table.columns]
            table = table.merge(data.genomics[keep], on=PATIENT_ID, how="left")
        return table
    raise ValidationError(f"data: expected a Cohort or a DataFrame of patient fields, got {type(data).__name__}")


def _missing_text(rule: Rule, columns: dict, rows: np.ndarray) -> np.ndarray:
    """Per undecided patient, the rule's fields that are not recorded (joined by ", ")."""
    code = np.zeros(len(rows), dtype=np.int64)
    names = rule.fields
    for bit, name in enumerate(names):
        values, kind, _ = columns[name]
        miss = values[rows] < 0 if kind == "category" else np.isnan(values[rows])
        code |= miss.astype(np.int64) << bit
    uniq, inv = np.unique(code, return_inverse=True)
    words = np.array([", ".join(n for b, n in enumerate(names) if c >> b & 1) or "a needed field" for c in uniq], dtype=object)
    return words[inv]


@dataclass(frozen=True)
class RuleSet:
    """A validated collection of :class:`Rule` objects.

    ``RuleSet.default()`` is the shipped starter set (CPIC drug-gene rules, renal, QT,
    allergy, pregnancy, age and interaction rules); ``RuleSet.load(path, ...)`` adds users'
    files to it (or replaces it with ``include_defaults=False``).
    """

    rules: tuple[Rule, ...]
    vocabulary: Vocabulary

    @classmethod
    def default(cls) -> RuleSet:
        return cls.load(include_defaults=True)

    @classmethod
    def load(cls, *paths: str | Path, include_defaults: bool = True) -> RuleSet:
        vocab = default_vocabulary()
        files = [Path(str(resources.files("causalrx.safety") / "rules" / f)) for f in DEFAULT_FILES] if include_defaults else []
        rules: list[Rule] = []
        for path in [*files, *map(Path, paths)]:
            for rule in read_rule_file(path, vocab):
                clash = next((r for r in rules if r.id == rule.id), None)
                if clash is not None:
                    raise ValidationError(f"{rule.origin}: rule id {rule.id!r} is already defined at {clash.origin}")
                rules.append(rule)
        for rule in rules:  # a later file's override may have changed a field an earlier rule reads
            try:
                _compile(rule.condition.spec, vocab, rule.origin)
            except ValidationError as err:
                raise ValidationError(f"{rule.origin}: rule {rule.id!r} no longer fits the vocabulary after the files that "
                                      f"followed it ({err}); an override may not leave a rule that can never fire: keep the levels, or load "
                                      "without the defaults (include_defaults=False) and restate the rule in the new terms") from err  # fmt: skip
        return cls(rules=tuple(rules), vocabulary=vocab)

    def to_yaml(self, path: str | Path) -> Path:
        """Write the rules (drug classes expanded) to one YAML rule file."""
        path = Path(path)
        path.write_text(yaml.safe_dump({"rules": [r.to_dict() for r in self.rules]}, sort_keys=False, allow_unicode=True))
        return path

    def indications(self) -> dict[str, list[str]]:
        """Per drug, the indications the vocabulary distinguishes (declare one in :meth:`evaluate`)."""
        return {d: list(v) for d, v in self.vocabulary.indications.items()}

    def check(self, data) -> None:
        """Read every field the rules use from ``data`` (a Cohort or DataFrame) through the
        vocabulary: a named error for any value that is not accepted. Run it at load time."""
        self.vocabulary.columns(patient_fields(data), sorted({f for r in self.rules for f in r.fields}))

    def evaluate(self, data, drugs=None, reference: str | None = None, *, indications: dict | None = None,
                 not_evaluable: str = "contraindicated") -> Mask:  # fmt: skip
        """Mask (True = allowed) for every patient and drug, with reasons.

        Parameters
        ----------
        data : Cohort or DataFrame
            Patients with the fields the rules use (a Cohort's clinical and genomics tables).
            Values are read through the vocabulary's synonym table; a value it does not know
            is a :class:`ValidationError` that names the field and the accepted levels.
        drugs : sequence of str, optional
            Drug columns; default the cohort's ``action_names``.
        reference : str, optional
            The arm that always stays allowed; default the cohort's reference. Required with a
            DataFrame.
        indications : dict, optional
            Drug (or drug class) -> the indication it is considered for here, e.g.
            ``{"clopidogrel": "ACS/PCI", "thiopurines": "malignancy"}``; rules of other
            indications are then not applied to that drug. A drug without a declared
            indication is held to the rules of every indication. Default: a Cohort's
            ``metadata["indications"]``, if any.
        not_evaluable : {"contraindicated", "caution"}
            What a contraindicating rule that cannot be decided for a patient does. The default
            masks the drug (pending data). ``"caution"`` keeps it allowed and flagged, for a
            sensitivity analysis; a :class:`NotEvaluableWarning` says how many cells that lets through.
        """
        if not_evaluable not in NOT_EVALUABLE_CHOICES:
            raise ValidationError(f"not_evaluable: expected one of {list(NOT_EVALUABLE_CHOICES)}, got {not_evaluable!r}")
        table = patient_fields(data)
        if drugs is None:
            if not isinstance(data, Cohort):
                raise ValidationError("drugs: pass the drug names when evaluating a DataFrame")
            drugs = data.action_names
        drugs = tuple(drugs)
        if reference is None:
            if not isinstance(data, Cohort):
                raise ValidationError("reference: name the reference arm (standard care) when evaluating a DataFrame")
            reference = data.reference
        if reference not in drugs:
            raise ValidationError(f"reference: {reference!r} is not one of the drugs {drugs}")
        if indications is None and isinstance(data, Cohort):
            indications = data.metadata.get("indications")
        declared = self._declared(indications, drugs)
        ref = drugs.index(reference)
        n, k = len(table), len(drugs)
        columns = self.vocabulary.columns(table, sorted({f for r in self.rules for f in r.fields}))
        allowed = np.ones((n, k), dtype=bool)
        flagged = np.zeros((n, k), dtype=bool)
        undecided = np.zeros((n, k), dtype=bool)
        firings, by_rule = [], {}
        index = {d: j for j, d in enumerate(drugs)}
        on_reference = [r for r in self.rules if r.action == "contraindicated" and reference in r.drugs]
        if on_reference:
            raise ValidationError(f"reference: rule {on_reference[0].id!r} ({on_reference[0].origin}) contraindicates the reference arm "
                                  f"{reference!r}, which must stay allowed for every patient as the fallback; choose a reference "
                                  f"arm no contraindicating rule names, or remove the rule ({len(on_reference)} rule(s) name it)")  # fmt: skip
        for rule in self.rules:
            cols = np.array([index[d] for d in rule.drugs if d in index and index[d] != ref
                             and (not rule.indication or d not in declared or declared[d] in rule.indication)], dtype=int)  # fmt: skip
            if len(cols) == 0:
                continue
            holds, known = rule.condition.evaluate(columns, n)
            patients = np.flatnonzero(holds)
            unknown = np.flatnonzero(~known)
            if rule.action == "contraindicated":
                allowed[np.ix_(patients, cols)] = False
                undecided[np.ix_(unknown, cols)] = True
            else:
                flagged[np.ix_(patients, cols)] = True
                flagged[np.ix_(unknown, cols)] = True
            firings.append(Firing(rule=rule, patients=patients, columns=cols))
            if len(unknown):
                firings.append(Firing(rule, unknown, cols, NOT_EVALUABLE, _missing_text(rule, columns, unknown)))
            by_rule[rule.id] = len(unknown)
        if not_evaluable == "contraindicated":
            allowed &= ~undecided
        elif (let_through := undecided & allowed).any():
            flagged |= let_through
            warnings.warn(f"not_evaluable='caution': {int(let_through.sum())} cell(s) whose contraindicating rule could not be "
                          "decided stay allowed (flagged); use this for sensitivity analyses only", NotEvaluableWarning, stacklevel=2)  # fmt: skip
        flagged &= allowed
        ids = table[PATIENT_ID].to_numpy() if PATIENT_ID in table.columns else np.arange(n)
        return Mask(allowed=allowed, flagged=flagged, drugs=drugs, patient_ids=ids, firings=tuple(firings), not_evaluable=undecided,
                    not_evaluable_by_rule=by_rule, reference=reference, on_not_evaluable=not_evaluable, indications=declared)  # fmt: skip

    def _declared(self, indications, drugs) -> dict[str, str]:
        """Declared indications expanded from classes to drugs, each checked against the rules'."""
        if indications is None:
            return {}
        if not isinstance(indications, dict):
            raise ValidationError(f"indications: expected a mapping drug -> indication, got {type(indications).__name__}")
        known = self.indications()
        out = {}
        for name, indication in indications.items():
            for drug in self.vocabulary.expand(name):
                if indication not in known.get(drug, []):
                    raise ValidationError(f"indications: {indication!r} is not an indication the vocabulary knows for "
                                          f"{drug!r}; known: {known.get(drug, [])} (add it under 'indications' in a rule file)")  # fmt: skip
                out[drug] = indication
        return out
