"""CSV/TSV/Parquet tables with a mapping from the user's column names to the schema's,
long-format time series, and the linkage of sample ids across modalities."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from causalrx.data.schema import PATIENT_ID, VISIT
from causalrx.exceptions import ValidationError

LONG_COLUMNS = (PATIENT_ID, VISIT, "variable", "value")
READERS = {".csv": ",", ".tsv": "\t", ".txt": "\t"}


_ISO_DATE = r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"


def _iso_dates(table: pd.DataFrame) -> pd.DataFrame:
    """Text columns whose every value is an ISO date (``2016-01-16``, optionally with a time) become dates."""
    for col in table.columns:
        values = table[col]
        if col == PATIENT_ID or not (values.dtype == object or pd.api.types.is_string_dtype(values.dtype)):
            continue
        present = values.dropna().astype(str)
        if len(present) and present.str.fullmatch(_ISO_DATE).all():
            table[col] = pd.to_datetime(values, format="ISO8601")
    return table


def read_table(
    path: str | Path,
    mapping: Mapping[str, str] | None = None,
    *,
    required: tuple[str, ...] = (PATIENT_ID,),
    dtype: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet table and rename its columns to the schema's.

    Parameters
    ----------
    path : path-like
        ``.csv``, ``.tsv``/``.txt`` (tab-separated), ``.parquet``/``.pq``; ``.gz`` allowed for text.
    mapping : mapping user column -> schema column, optional
        E.g. ``{"PatID": "patient_id", "Creat_umol": "creatinine"}``. Every key must be a
        column of the file.
    required : tuple of str
        Schema columns that must exist after renaming.
    dtype : mapping, optional
        Column types for text files (``patient_id`` is always read as text). A text column
        whose every value is an ISO date (``2016-01-16``, ``2016-01-16 08:30``) is read as dates.

    Raises
    ------
    ValidationError
        Unknown suffix, missing file, a mapping key that is not a column of the file, two
        columns mapped to one name, or a required column absent.
    """
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"{path}: no such file")
    suffix = path.suffixes[-2] if path.suffix == ".gz" and len(path.suffixes) > 1 else path.suffix
    suffix = suffix.lower()
    if suffix in (".parquet", ".pq"):
        table = pd.read_parquet(path)
    elif suffix in READERS:
        types = {PATIENT_ID: str, **{k: str for k, v in (mapping or {}).items() if v == PATIENT_ID}, **(dtype or {})}
        table = _iso_dates(pd.read_csv(path, sep=READERS[suffix], dtype=types))
    else:
        raise ValidationError(f"{path}: unknown table format {suffix!r}; expected .csv, .tsv, .txt or .parquet")
    return apply_mapping(table, mapping, required=required, source=str(path))


def apply_mapping(
    table: pd.DataFrame, mapping: Mapping[str, str] | None, *, required: tuple[str, ...] = (), source: str = "table"
) -> pd.DataFrame:
    """Rename ``table`` by ``mapping`` (user -> schema) and check the ``required`` columns."""
    mapping = dict(mapping or {})
    unknown = [k for k in mapping if k not in table.columns]
    if unknown:
        raise ValidationError(
            f"{source}: column mapping names column(s) {unknown} that the file does not have; "
            f"its columns are {list(table.columns)}"
        )
    targets = pd.Series(list(mapping.values()))
    clash = targets[targets.duplicated()].unique().tolist()
    kept = [c for c in table.columns if c not in mapping]
    clash += [v for v in mapping.values() if v in kept]
    if clash:
        raise ValidationError(f"{source}: column mapping gives more than one column the name(s) {sorted(set(clash))}")
    table = table.rename(columns=mapping)
    absent = [c for c in required if c not in table.columns]
    if absent:
        raise ValidationError(
            f"{source}: required column(s) {absent} not found; columns are {list(table.columns)} "
            "(map yours with mapping={'your_name': 'schema_name'})"
        )
    if PATIENT_ID in table.columns:
        ids = table[PATIENT_ID]
        table[PATIENT_ID] = ids.astype(str).where(ids.notna(), None)
    return table


def read_long_timeseries(path: str | Path, mapping: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Long-format repeated measurements: ``patient_id, visit, variable, value`` (+ ``unit``).

    ``visit`` must be a non-negative integer (0 is baseline) and ``value`` numeric; the
    error names the first offending line of the file.
    """
    table = read_table(path, mapping, required=LONG_COLUMNS)
    for col in (VISIT, "value"):
        numeric = pd.to_numeric(table[col], errors="coerce")
        bad = numeric.isna() & table[col].notna()
        if bad.any():
            first = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValidationError(
                f"{path}: column '{col}' must be numeric; line {first + 2} has {table[col].iloc[first]!r} "
                f"({int(bad.sum())} such row(s))"
            )
        table[col] = numeric
    if (table[VISIT] < 0).any() or (table[VISIT].dropna() % 1 != 0).any():
        raise ValidationError(f"{path}: column '{VISIT}' must hold non-negative whole numbers (0 = baseline)")
    table[VISIT] = table[VISIT].astype(np.int64)
    table["variable"] = table["variable"].astype(str)
    return table


@dataclass(frozen=True)
class Linkage:
    """How one modality's sample ids matched the cohort's patients.

    ``matched`` maps sample id -> patient id; ``unmatched`` lists the samples that match no
    patient (excluded, and counted in the QC report); ``patients_missing`` the patients of
    the cohort that have no sample in this modality.
    """

    modality: str
    matched: dict[str, str]
    unmatched: tuple[str, ...]
    patients_missing: tuple[str, ...]

    def summary(self) -> dict[str, object]:
        return {
            "modality": self.modality, "samples_matched": len(self.matched),
            "samples_unmatched": len(self.unmatched), "patients_missing": len(self.patients_missing),
        }  # fmt: skip


def link_samples(
    modality: str,
    sample_ids,
    patient_ids,
    id_map: Mapping[str, str] | pd.DataFrame | None = None,
    *,
    source: str | None = None,
) -> Linkage:
    """Match a modality's sample ids to patient ids, directly or through ``id_map``.

    ``id_map`` is a mapping or a two-column table ``sample_id, patient_id``. Samples that
    match no patient are listed, not silently dropped; if *none* match, that is an error
    (usually a wrong id column or a missing map).
    """
    if isinstance(id_map, pd.DataFrame):
        if not {"sample_id", PATIENT_ID} <= set(id_map.columns):
            raise ValidationError(f"id_map: expected columns 'sample_id' and '{PATIENT_ID}', got {list(id_map.columns)}")
        id_map = dict(zip(id_map["sample_id"].astype(str), id_map[PATIENT_ID].astype(str)))
    samples = [str(s) for s in sample_ids]
    patients = pd.Index([str(p) for p in patient_ids])
    translated = [id_map.get(s, s) for s in samples] if id_map else samples
    known = set(patients)
    matched = {s: p for s, p in zip(samples, translated) if p in known}
    unmatched = tuple(s for s in samples if s not in matched)
    if samples and not matched:
        raise ValidationError(
            f"{source or modality}: none of the {len(samples)} sample id(s) match a patient id "
            f"(samples e.g. {samples[:3]}; patients e.g. {list(patients[:3])}); give an id_map sample_id -> patient_id"
        )
    targets = pd.Series(list(matched.values()))
    dup = targets[targets.duplicated()].unique().tolist()
    if dup:
        raise ValidationError(f"{source or modality}: several samples map to the same patient(s) {dup[:5]}")
    present = set(matched.values())
    missing = tuple(p for p in patients if p not in present)
    return Linkage(modality=modality, matched=matched, unmatched=unmatched, patients_missing=missing)
