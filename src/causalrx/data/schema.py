"""The cohort data model: per-modality patient tables, logged drugs and outcomes.

All validation of user-supplied cohort data happens here, once, when a :class:`Cohort`
is built; downstream code trusts a ``Cohort``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from causalrx.exceptions import ValidationError

PATIENT_ID = "patient_id"
VISIT = "visit"
DRUG = "drug"
MODALITIES = ("clinical", "genomics", "proteomics", "ecg")


def _examples(values, limit: int = 3) -> str:
    shown = [repr(v.item() if isinstance(v, np.generic) else v) for v in list(values)[:limit]]
    return ", ".join(shown) + (", ..." if len(values) > limit else "")


def _check_ids(name: str, ids: pd.Series, *, unique: bool = True) -> None:
    missing = int(ids.isna().sum())
    if missing:
        raise ValidationError(f"{name}: {missing} row(s) have a missing '{PATIENT_ID}'")
    if unique:
        dup = ids[ids.duplicated()]
        if len(dup):
            raise ValidationError(
                f"{name}: {len(dup)} row(s) repeat a '{PATIENT_ID}' that must be unique "
                f"(e.g. {_examples(dup.unique())})"
            )


def _check_table(name: str, table: pd.DataFrame, known_ids: pd.Index | None, keys: tuple[str, ...]) -> None:
    if not isinstance(table, pd.DataFrame):
        raise ValidationError(f"{name}: expected a pandas DataFrame, got {type(table).__name__}")
    absent = [k for k in keys if k not in table.columns]
    if absent:
        raise ValidationError(f"{name}: missing required column(s) {absent}; columns are {list(table.columns)}")
    _check_ids(name, table[PATIENT_ID], unique=len(keys) == 1)
    if len(keys) > 1:
        dup = table.duplicated(list(keys))
        if dup.any():
            raise ValidationError(f"{name}: {int(dup.sum())} row(s) repeat a ({', '.join(keys)}) key that must be unique")
    if known_ids is not None:
        unknown = ~table[PATIENT_ID].isin(known_ids)
        if unknown.any():
            raise ValidationError(
                f"{name}: {int(unknown.sum())} row(s) have a '{PATIENT_ID}' that is not in the clinical table "
                f"(e.g. {_examples(table.loc[unknown, PATIENT_ID].unique())})"
            )


def _check_visits(name: str, table: pd.DataFrame) -> None:
    """``visit`` holds whole numbers >= 0 (0 is baseline)."""
    visit = table[VISIT]
    if pd.api.types.is_bool_dtype(visit) or not pd.api.types.is_numeric_dtype(visit):
        raise ValidationError(f"{name}.{VISIT}: expected whole numbers >= 0, got {visit.dtype} values such as {_examples(visit.unique())}")
    values = visit.to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
    if bad.any():
        raise ValidationError(f"{name}.{VISIT}: {int(bad.sum())} row(s) are not whole numbers >= 0 "
                              f"(e.g. {_examples(pd.unique(visit[bad]))}); visits count from 0 (baseline)")  # fmt: skip


def _as_number(value) -> bool:
    try:
        float(str(value).strip())
    except ValueError:
        return False
    return True


@functools.cache
def _number_fields() -> frozenset[str]:
    """The safety vocabulary's number fields (read once: the shipped vocabulary file does not change)."""
    from causalrx.safety.vocabulary import default_vocabulary

    return frozenset(f for f, spec in default_vocabulary().fields.items() if spec["type"] == "number")


def _check_number_columns(name: str, table: pd.DataFrame) -> None:
    """A text column whose values are mostly numbers, or a number field of the safety vocabulary
    (age, eGFR, ...) stored as text, is refused: numbers must be stored as numbers."""
    number_fields = _number_fields()
    for col in table.columns:
        values = table[col]
        if col == PATIENT_ID or pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values) \
                or pd.api.types.is_datetime64_any_dtype(values) or isinstance(values.dtype, pd.CategoricalDtype):  # fmt: skip
            continue
        present = values.dropna()
        if present.empty:
            continue
        numeric = present.map(_as_number).to_numpy(dtype=bool)
        if col in number_fields or numeric.mean() >= 0.5:
            text = present[~numeric]
            detail = (f"text such as {_examples(pd.unique(text))} in {len(text)} row(s)" if len(text)
                      else "numbers stored as text")  # fmt: skip
            raise ValidationError(f"{name}.{col}: expected numbers, found {detail}; convert the column to numbers "
                                  "(units with causalrx.prep.units) and leave values that were not recorded empty (NaN)")  # fmt: skip


@dataclass(frozen=True)
class EcgWaveforms:
    """Raw ECG waveforms, one record per patient.

    Parameters
    ----------
    patient_id : array of shape (n,)
        Patient of each record; unique.
    signals : float array of shape (n, n_leads, n_samples)
        Voltages in millivolts.
    fs : float
        Sampling frequency in Hz.
    leads : tuple of str
        Lead names, one per signal channel (e.g. ``("II",)``).
    """

    patient_id: np.ndarray
    signals: np.ndarray
    fs: float
    leads: tuple[str, ...]

    def __post_init__(self) -> None:
        ids = pd.Series(np.asarray(self.patient_id))
        _check_ids("ecg", ids)
        sig = self.signals
        if not isinstance(sig, np.ndarray) or sig.ndim != 3:
            raise ValidationError(
                f"ecg.signals: expected an array of shape (n_patients, n_leads, n_samples), got "
                f"{getattr(sig, 'shape', type(sig).__name__)}"
            )
        if sig.shape[0] != len(ids):
            raise ValidationError(
                f"ecg: signals has {sig.shape[0]} record(s) but patient_id has {len(ids)} (lengths must match)"
            )
        if sig.shape[1] != len(self.leads):
            raise ValidationError(f"ecg: signals has {sig.shape[1]} lead(s) but leads names {len(self.leads)}")
        if not np.isfinite(self.fs) or self.fs <= 0:
            raise ValidationError(f"ecg.fs: expected a positive sampling frequency in Hz, got {self.fs!r}")
        bad = ~np.isfinite(sig).reshape(len(sig), -1).all(axis=1)
        if bad.any():
            raise ValidationError(f"ecg.signals: {int(bad.sum())} record(s) contain NaN or infinite values")

    @property
    def duration_s(self) -> float:
        return self.signals.shape[2] / self.fs


@dataclass(frozen=True)
class Cohort:
    """Patient tables by modality, logged drug exposures and outcomes.

    Every table is keyed by a ``patient_id`` column; per-visit tables also carry an integer
    ``visit`` (0 is baseline). A patient without a modality is simply absent from that
    modality's table (see :meth:`modality_presence`).

    Parameters
    ----------
    clinical : DataFrame
        One row per patient: the patients of the cohort (age, sex, eGFR, comorbidities,
        allergies, co-medication, centre, enrolment time, ...).
    action_names : sequence of str
        The drugs ``0..k-1``. ``action_names[0]`` is the reference arm unless ``reference``
        names another.
    treatments : DataFrame
        Logged exposures: ``patient_id``, ``visit``, ``drug`` (a name from ``action_names``).
    outcomes : DataFrame
        ``patient_id``, ``visit`` and outcome columns (e.g. ``efficacy``, ``adverse_event``,
        ``time``, ``event``); no missing values.
    genomics, proteomics : DataFrame, optional
        One row per patient with genotype dosages / phenotypes, or protein intensities.
    variants : DataFrame, optional
        Annotation of the genomics dosage columns (``variant_id``, ``chrom``, ...).
    ecg : EcgWaveforms, optional
        Raw waveforms.
    timeseries : DataFrame, optional
        Long-format repeated measurements keyed by ``patient_id`` and ``visit``.
    reference : str, optional
        Name of the reference arm; defaults to ``action_names[0]``.
    metadata : dict
        Free-form, JSON-serialisable provenance (e.g. simulator settings).

    Raises
    ------
    ValidationError
        On missing or duplicate ``patient_id``, patients unknown to the clinical table,
        unknown or missing drug names, missing outcomes, or inconsistent ECG arrays.
    """

    clinical: pd.DataFrame
    action_names: tuple[str, ...]
    treatments: pd.DataFrame
    outcomes: pd.DataFrame
    genomics: pd.DataFrame | None = None
    proteomics: pd.DataFrame | None = None
    ecg: EcgWaveforms | None = None
    variants: pd.DataFrame | None = None
    timeseries: pd.DataFrame | None = None
    reference: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = tuple(str(a) for a in self.action_names)
        object.__setattr__(self, "action_names", names)
        if len(names) < 2:
            raise ValidationError(f"action_names: expected at least 2 drugs (a reference and one other), got {names}")
        if len(set(names)) != len(names):
            raise ValidationError(f"action_names: drug names must be unique, got {names}")
        reference = names[0] if self.reference is None else self.reference
        if reference not in names:
            raise ValidationError(f"reference: {reference!r} is not one of action_names {names}")
        object.__setattr__(self, "reference", reference)

        _check_table("clinical", self.clinical, None, (PATIENT_ID,))
        if len(self.clinical) == 0:
            raise ValidationError("clinical: no patients; a cohort needs at least one patient")
        known = pd.Index(self.clinical[PATIENT_ID])
        for name in ("genomics", "proteomics"):
            table = getattr(self, name)
            if table is not None:
                _check_table(name, table, known, (PATIENT_ID,))
        for name in ("clinical", "genomics", "proteomics"):
            if getattr(self, name) is not None:
                _check_number_columns(name, getattr(self, name))
        if self.ecg is not None:
            unknown = ~pd.Index(self.ecg.patient_id).isin(known)
            if unknown.any():
                raise ValidationError(
                    f"ecg: {int(unknown.sum())} record(s) have a '{PATIENT_ID}' that is not in the clinical table"
                )
        if self.timeseries is not None:
            _check_table("timeseries", self.timeseries, known, (PATIENT_ID, VISIT))
            _check_visits("timeseries", self.timeseries)
        self._check_treatments(known)
        _check_table("outcomes", self.outcomes, known, (PATIENT_ID, VISIT))
        _check_visits("outcomes", self.outcomes)
        for name in ("treatments", "outcomes"):
            if len(getattr(self, name)) == 0:
                raise ValidationError(f"{name}: no rows; a cohort needs logged drugs and their outcomes")
        value_cols = [c for c in self.outcomes.columns if c not in (PATIENT_ID, VISIT)]
        if not value_cols:
            raise ValidationError("outcomes: expected at least one outcome column besides patient_id and visit")
        nan = self.outcomes[value_cols].isna().sum()
        if nan.any():
            detail = ", ".join(f"'{c}' ({int(v)} rows)" for c, v in nan.items() if v)
            raise ValidationError(f"outcomes: missing values in {detail}; exclude or impute these rows explicitly")
        for col in value_cols:
            values = self.outcomes[col]
            if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
                raise ValidationError(f"outcomes.{col}: expected numbers, got {values.dtype} values such as {_examples(values.unique())}")
            infinite = ~np.isfinite(values.to_numpy(dtype=float))
            if infinite.any():
                raise ValidationError(f"outcomes.{col}: {int(infinite.sum())} row(s) are infinite "
                                      f"(patients {_examples(self.outcomes.loc[infinite, PATIENT_ID].unique())}); outcomes must be finite")  # fmt: skip

    def _check_treatments(self, known: pd.Index) -> None:
        _check_table("treatments", self.treatments, known, (PATIENT_ID, VISIT, DRUG))
        _check_visits("treatments", self.treatments)
        drugs = self.treatments[DRUG]
        if drugs.isna().any():
            raise ValidationError(f"treatments.drug: {int(drugs.isna().sum())} row(s) have a missing drug (NaN action)")
        unknown = ~drugs.astype(str).isin(self.action_names)
        if unknown.any():
            raise ValidationError(
                f"treatments.drug: {int(unknown.sum())} row(s) name a drug that is not in action_names "
                f"(unknown: {_examples(drugs[unknown].unique())}; known: {list(self.action_names)})"
            )

    # ------------------------------------------------------------------ views
    @property
    def patient_ids(self) -> np.ndarray:
        return self.clinical[PATIENT_ID].to_numpy()

    @property
    def n_patients(self) -> int:
        return len(self.clinical)

    @property
    def n_actions(self) -> int:
        return len(self.action_names)

    @property
    def reference_index(self) -> int:
        return self.action_names.index(self.reference)

    @property
    def n_visits(self) -> int:
        return int(self.treatments[VISIT].max()) + 1

    def modality_presence(self) -> pd.DataFrame:
        """Boolean table (patients in clinical order x modality): is the modality present?"""
        ids = self.clinical[PATIENT_ID]
        flags = {"clinical": np.ones(len(ids), dtype=bool)}
        for name in ("genomics", "proteomics"):
            table = getattr(self, name)
            flags[name] = ids.isin(table[PATIENT_ID]).to_numpy() if table is not None else np.zeros(len(ids), bool)
        flags["ecg"] = ids.isin(self.ecg.patient_id).to_numpy() if self.ecg is not None else np.zeros(len(ids), bool)
        return pd.DataFrame(flags, index=pd.Index(ids, name=PATIENT_ID))

    def logged_actions(self, visit: int = 0) -> np.ndarray:
        """Integer drug index per patient (clinical order) at ``visit``; -1 where none is logged."""
        rows = self.treatments[self.treatments[VISIT] == visit]
        codes = pd.Categorical(rows[DRUG].astype(str), categories=self.action_names).codes
        by_id = pd.Series(codes, index=rows[PATIENT_ID].to_numpy())
        return by_id.reindex(self.patient_ids).fillna(-1).to_numpy(dtype=int)

    def outcome(self, column: str, visit: int = 0) -> np.ndarray:
        """One outcome column per patient (clinical order) at ``visit``; NaN where absent."""
        if column not in self.outcomes.columns:
            raise ValidationError(f"outcomes: no column {column!r}; columns are {list(self.outcomes.columns)}")
        rows = self.outcomes[self.outcomes[VISIT] == visit]
        return rows.set_index(PATIENT_ID)[column].reindex(self.patient_ids).to_numpy(dtype=float)

    def feature_table(self, modalities: tuple[str, ...] = ("clinical", "genomics", "proteomics")) -> pd.DataFrame:
        """Wide patient-by-feature table of the tabular modalities, in clinical order.

        Text columns are one-hot encoded, a modality-presence flag ``has_<modality>`` is
        added for each optional modality, and missing values stay NaN (imputation is a
        preparation step, never silent).
        """
        ids = pd.Index(self.clinical[PATIENT_ID], name=PATIENT_ID)
        parts = []
        presence = self.modality_presence()
        for name in modalities:
            if name not in ("clinical", "genomics", "proteomics"):
                raise ValidationError(f"feature_table: unknown tabular modality {name!r}")
            table = getattr(self, name)
            if table is None:
                continue
            frame = table.set_index(PATIENT_ID).reindex(ids)
            frame = numeric_features(frame)[0].add_prefix("" if name == "clinical" else f"{name}.")
            if name != "clinical":
                frame.insert(0, f"has_{name}", presence[name].to_numpy().astype(float))
            parts.append(frame)
        return pd.concat(parts, axis=1)

    # ------------------------------------------------------------ persistence
    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the cohort to a folder of Parquet files plus ``manifest.json``, atomically.

        A cohort store already at ``path`` is replaced; another non-empty folder is refused
        unless ``overwrite=True``. See :mod:`causalrx.data.storage`.
        """
        from causalrx.data.storage import save_cohort

        return save_cohort(self, path, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | Path) -> Cohort:
        """Read a cohort written by :meth:`save`; the manifest, checksums, sizes and dtypes are verified."""
        from causalrx.data.storage import load_cohort

        return load_cohort(path)


MAX_LEVELS = 50


def numeric_features(frame: pd.DataFrame, levels: dict[str, list[str]] | None = None) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Numbers as float, booleans 0/1, dates as decimal years, text one-hot (NaN kept).

    Text levels are learned from ``frame`` unless ``levels`` (column -> levels) is given,
    so new patients get exactly the columns learned on training patients. A text column
    with more than ``MAX_LEVELS`` (50) distinct values (free text, identifiers) is refused
    by name rather than exploded into that many features.
    """
    learn = levels is None
    levels = {} if learn else levels
    out = {}
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            out[col] = s.astype(float)
        elif pd.api.types.is_datetime64_any_dtype(s):
            out[col] = s.dt.year + (s.dt.day_of_year - 1) / 365.25
        else:
            if learn:
                levels[col] = sorted(s.dropna().astype(str).unique())
                if len(levels[col]) > MAX_LEVELS:
                    raise ValidationError(f"{col}: {len(levels[col])} distinct text values (e.g. {_examples(levels[col])}) would "
                                          f"become {len(levels[col])} one-hot features (at most {MAX_LEVELS}); drop the column, "
                                          "map it to a few categories, or convert it to numbers")  # fmt: skip
            for level in levels.get(col, []):
                out[f"{col}={level}"] = (s.astype(str) == level).astype(float).where(s.notna())
    return pd.DataFrame(out, index=frame.index), levels
