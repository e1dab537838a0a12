"""Evaluating a rule set on patients: the boolean mask plus the reason for every masked cell."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from causalrx.data.schema import PATIENT_ID, Cohort
from causalrx.exceptions import ValidationError
from causalrx.safety.rules import Rule, Vocabulary, default_vocabulary, read_rule_file

DEFAULT_FILES = ("pharmacogenomics.yaml", "clinical.yaml")


@dataclass(frozen=True)
class Firing:
    """The patients (row indices) on whom one rule fired, and the drug columns it concerns."""

    rule: Rule
    patients: np.ndarray
    columns: np.ndarray


@dataclass(frozen=True, eq=False)
class Mask:
    """Result of :meth:`RuleSet.evaluate`.

    Attributes
    ----------
    allowed : bool array (n, k)
        True = the drug may be recommended. The reference arm is always allowed, so every
        patient keeps an option ("refer to specialist" / standard care).
    flagged : bool array (n, k)
        Cells under a ``caution`` rule (allowed, with a dose note).
    drugs, patient_ids
        Column and row labels.
    firings : tuple of Firing
        Which rule fired on which patients, for every reason.
    not_evaluable : dict
        Per rule id, how many patients lacked the data to decide it (e.g. no genotype).
    """

    allowed: np.ndarray
    flagged: np.ndarray
    drugs: tuple[str, ...]
    patient_ids: np.ndarray
    firings: tuple[Firing, ...]
    not_evaluable: dict
    reference: str

    @property
    def only_reference(self) -> np.ndarray:
        """Patient ids for whom every drug but the reference arm is masked."""
        ref = self.drugs.index(self.reference)
        others = np.delete(self.allowed, ref, axis=1)
        return self.patient_ids[~others.any(axis=1)]

    def reasons(self, patient: int, drug: str) -> list[dict]:
        """Rules that masked or flagged ``drug`` for the patient at row ``patient``."""
        j = self.drugs.index(drug)
        return [
            {"rule_id": f.rule.id, "action": f.rule.action, "reason": f.rule.reason, "dose_note": f.rule.dose_note,
             "source": f.rule.source}  # fmt: skip
            for f in self.firings
            if j in f.columns and np.searchsorted(f.patients, patient) < len(f.patients)
            and f.patients[np.searchsorted(f.patients, patient)] == patient
        ]

    def to_frame(self) -> pd.DataFrame:
        """Long table: one row per (patient, drug, rule) that masked or flagged the drug."""
        frames = []
        for f in self.firings:
            if len(f.patients) == 0 or len(f.columns) == 0:
                continue
            pid = np.repeat(self.patient_ids[f.patients], len(f.columns))
            drug = np.tile(np.asarray(self.drugs)[f.columns], len(f.patients))
            frames.append(pd.DataFrame({"patient_id": pid, "drug": drug, "rule_id": f.rule.id, "action": f.rule.action,
                                        "reason": f.rule.reason, "dose_note": f.rule.dose_note, "source": f.rule.source}))  # fmt: skip
        columns = ["patient_id", "drug", "rule_id", "action", "reason", "dose_note", "source"]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)

    def rule_summary(self) -> pd.DataFrame:
        """Per rule: action, drugs concerned here, patients it fired on, patients it could not decide."""
        return pd.DataFrame(
            [
                {"rule_id": f.rule.id, "action": f.rule.action, "drugs": ", ".join(np.asarray(self.drugs)[f.columns]),
                 "patients": len(f.patients), "not_evaluable": self.not_evaluable.get(f.rule.id, 0)}  # fmt: skip
                for f in self.firings
            ]
        )


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


def _columns(table: pd.DataFrame, vocab: Vocabulary, needed: set[str]) -> dict:
    n = len(table)
    out = {}
    for name in needed:
        kind = vocab.fields[name]["type"]
        present = name in table.columns
        if kind == "category":
            levels = list(vocab.fields[name]["values"])
            codes = pd.Categorical(table[name].astype("object"), categories=levels).codes if present else np.full(n, -1)
            out[name] = (np.asarray(codes), kind, levels)
        else:
            if present:
                col = table[name]
                values = col.astype("float64").to_numpy() if col.dtype != object else pd.to_numeric(col, errors="coerce").to_numpy()
            else:
                values = np.full(n, np.nan)
            out[name] = (values, kind, None)
    return out


def _fields_of(spec) -> set[str]:
    if "field" in spec:
        return {spec["field"]}
    if "not" in spec:
        return _fields_of(spec["not"])
    return set().union(*(_fields_of(s) for s in spec.get("all", spec.get("any", []))))


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
        return cls(rules=tuple(rules), vocabulary=vocab)

    def to_yaml(self, path: str | Path) -> Path:
        """Write the rules (drug classes expanded) to one YAML rule file."""
        path = Path(path)
        path.write_text(yaml.safe_dump({"rules": [r.to_dict() for r in self.rules]}, sort_keys=False, allow_unicode=True))
        return path

    def evaluate(self, data, drugs=None, reference: str | None = None) -> Mask:
        """Mask (True = allowed) for every patient and drug, with reasons.

        Parameters
        ----------
        data : Cohort or DataFrame
            Patients with the fields the rules use (a Cohort's clinical and genomics tables).
        drugs : sequence of str, optional
            Drug columns; default the cohort's ``action_names``.
        reference : str, optional
            The arm that always stays allowed; default the cohort's reference or ``drugs[0]``.
        """
        table = patient_fields(data)
        if drugs is None:
            if not isinstance(data, Cohort):
                raise ValidationError("drugs: pass the drug names when evaluating a DataFrame")
            drugs = data.action_names
        drugs = tuple(drugs)
        reference = reference or (data.reference if isinstance(data, Cohort) else drugs[0])
        if reference not in drugs:
            raise ValidationError(f"reference: {reference!r} is not one of the drugs {drugs}")
        ref = drugs.index(reference)
        n, k = len(table), len(drugs)
        needed = set().union(*(_fields_of(r.condition.spec) for r in self.rules)) if self.rules else set()
        columns = _columns(table, self.vocabulary, needed)
        allowed = np.ones((n, k), dtype=bool)
        flagged = np.zeros((n, k), dtype=bool)
        firings, not_evaluable = [], {}
        index = {d: j for j, d in enumerate(drugs)}
        for rule in self.rules:
            cols = np.array([index[d] for d in rule.drugs if d in index and index[d] != ref], dtype=int)
            if len(cols) == 0:
                continue
            holds, known = rule.condition.evaluate(columns, n)
            patients = np.flatnonzero(holds)
            if rule.action == "contraindicated":
                allowed[np.ix_(patients, cols)] = False
            else:
                flagged[np.ix_(patients, cols)] = True
            firings.append(Firing(rule=rule, patients=patients, columns=cols))
            not_evaluable[rule.id] = int((~known).sum())
        ids = table[PATIENT_ID].to_numpy() if PATIENT_ID in table.columns else np.arange(n)
        return Mask(allowed=allowed, flagged=flagged, drugs=drugs, patient_ids=ids, firings=tuple(firings),
                    not_evaluable=not_evaluable, reference=reference)  # fmt: skip
