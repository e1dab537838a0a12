"""Unit harmonisation for common laboratory values, with a log of every conversion.

Each lab has a canonical unit and conversion factors. Where the table says the unit (a
``<lab>_unit`` column in a wide table, or ``unit`` in a long one) it is used row by row;
where it does not, the unit is detected per value from ranges that do not overlap for
plausible values (e.g. creatinine above 25 cannot be mg/dL, so it is umol/L), which also
catches centres that report in different units. Nothing is dropped: values implausible
even after conversion are counted in the log and kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from causalrx.exceptions import ValidationError


@dataclass(frozen=True)
class Lab:
    canonical: str
    factors: dict[str, float]  # unit -> multiply by this to get the canonical unit
    aliases: tuple[str, ...]
    detect_above: float | None  # without a unit: values above this are in `detect_unit`
    detect_unit: str | None
    plausible: tuple[float, float]  # in the canonical unit


LABS = {
    "creatinine": Lab("mg/dL", {"mg/dL": 1.0, "umol/L": 1 / 88.42, "µmol/L": 1 / 88.42, "mmol/L": 1000 / 88.42},
                      ("creatinine", "creat", "scr", "serum_creatinine"), 25.0, "umol/L", (0.1, 25.0)),
    "glucose": Lab("mmol/L", {"mmol/L": 1.0, "mg/dL": 1 / 18.016}, ("glucose", "glu", "fasting_glucose"), 45.0, "mg/dL", (1.0, 60.0)),
    "cholesterol": Lab("mmol/L", {"mmol/L": 1.0, "mg/dL": 1 / 38.67}, ("cholesterol", "total_cholesterol", "ldl", "hdl", "ldl_c", "hdl_c"),
                       25.0, "mg/dL", (0.1, 25.0)),
    "triglycerides": Lab("mmol/L", {"mmol/L": 1.0, "mg/dL": 1 / 88.57}, ("triglycerides", "tg"), 40.0, "mg/dL", (0.1, 40.0)),
    "hemoglobin": Lab("g/dL", {"g/dL": 1.0, "g/L": 0.1, "mmol/L": 1.611}, ("hemoglobin", "haemoglobin", "hb", "hgb"), 30.0, "g/L", (2.0, 30.0)),
    "weight": Lab("kg", {"kg": 1.0, "lb": 0.45359237, "g": 0.001}, ("weight", "weight_kg", "body_weight"), None, None, (0.3, 400.0)),
}  # fmt: skip


def _canon_unit(unit: str, lab: Lab, where: str) -> float:
    key = {u.lower().replace("μ", "u").replace("µ", "u"): f for u, f in lab.factors.items()}
    u = str(unit).strip().lower().replace("μ", "u").replace("µ", "u")
    if u not in key:
        raise ValidationError(f"{where}: unit {unit!r} not understood; expected one of {sorted(lab.factors)}")
    return key[u]


def lab_of(column: str) -> str | None:
    """The lab a column name refers to (by alias), or None."""
    c = column.lower()
    for name, lab in LABS.items():
        if c in lab.aliases:
            return name
    return None


def convert(values: pd.Series, lab_name: str, units: pd.Series | None = None, *, where: str = "") -> tuple[pd.Series, list[str]]:
    """Values of one lab in its canonical unit, and log lines saying what was converted."""
    lab = LABS[lab_name]
    v = pd.to_numeric(values, errors="coerce").astype(float)
    non_numeric = int((v.isna() & values.notna()).sum())
    if non_numeric:
        raise ValidationError(f"{where}: {non_numeric} non-numeric value(s), e.g. {values[v.isna() & values.notna()].iloc[0]!r}")
    log = []
    if units is not None:
        given = units.notna()
        factors = pd.Series(np.nan, index=v.index)
        for unit in units[given].unique():
            factors[units == unit] = _canon_unit(unit, lab, where)
            n_rows = int(((units == unit) & v.notna()).sum())
            if _canon_unit(unit, lab, where) != 1.0 and n_rows:
                log.append(f"{where}: {n_rows} value(s) in {unit} converted to {lab.canonical} (x{_canon_unit(unit, lab, where):.6g})")
        v = v * factors.where(given, 1.0)
        undetected = ~given & v.notna()
    else:
        undetected = v.notna()
    if lab.detect_above is not None:
        hit = undetected & (v > lab.detect_above)
        if hit.any():
            f = lab.factors[lab.detect_unit]
            v[hit] = v[hit] * f
            log.append(
                f"{where}: {int(hit.sum())} of {int(undetected.sum())} value(s) without a unit exceed {lab.detect_above:g} "
                f"{lab.canonical}, read as {lab.detect_unit} and converted to {lab.canonical} (x{f:.6g})"
            )
    lo, hi = lab.plausible
    out = v.notna() & ((v < lo) | (v > hi))
    if out.any():
        log.append(f"{where}: {int(out.sum())} value(s) outside the plausible range {lo:g}-{hi:g} {lab.canonical} after conversion (kept)")
    return v, log


def harmonise_units(table: pd.DataFrame, *, source: str = "table") -> tuple[pd.DataFrame, list[str]]:
    """Convert the recognised lab columns of a wide table (or a long table with
    ``variable``/``value``/optional ``unit``) to canonical units; returns the table and the log."""
    table = table.copy()
    log: list[str] = []
    if {"variable", "value"} <= set(table.columns):
        for var in table["variable"].unique():
            name = lab_of(str(var))
            if name is None:
                continue
            rows = table["variable"] == var
            units = table.loc[rows, "unit"] if "unit" in table.columns else None
            table.loc[rows, "value"], lines = convert(table.loc[rows, "value"], name, units, where=f"{source}: {var}")
            if "unit" in table.columns:
                table.loc[rows, "unit"] = LABS[name].canonical
            log += lines
        return table, log
    for col in list(table.columns):
        name = lab_of(str(col))
        if name is None:
            continue
        unit_col = f"{col}_unit"
        units = table[unit_col] if unit_col in table.columns else None
        table[col], lines = convert(table[col], name, units, where=f"{source}: {col}")
        if units is not None:
            table = table.drop(columns=unit_col)
            lines.append(f"{source}: {col} now in {LABS[name].canonical}; column {unit_col} removed")
        log += lines
    return table, log
