"""The QC report: what preparation removed, converted or found missing, and the baseline
table by treatment arm."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from causalrx.data.schema import PATIENT_ID, Cohort
from causalrx.exceptions import ValidationError

QC_TABLES = ("linkage", "duplicates", "missing_by_modality", "missing_by_feature", "baseline")
QC_FILES = ("qc_report.md", *(f"qc_{name}.csv" for name in QC_TABLES))


def deduplicate(table: pd.DataFrame, keys: tuple[str, ...] = (PATIENT_ID,), *, source: str = "table") -> tuple[pd.DataFrame, int]:
    """Remove exact duplicate rows (returns how many); rows that share ``keys`` but differ are an error."""
    exact = table.duplicated()
    out = table.loc[~exact]
    clash = out.duplicated(list(keys), keep=False)
    if clash.any():
        ids = out.loc[clash, keys[0]].unique()
        raise ValidationError(
            f"{source}: {int(clash.sum())} row(s) share a ({', '.join(keys)}) key but differ in other columns "
            f"(e.g. {list(ids[:3])}); resolve them in the source file"
        )
    return out.reset_index(drop=True), int(exact.sum())


def missingness(cohort: Cohort) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per modality, per feature) missingness over the cohort's patients.

    Per modality: patients present and the share of missing values among present patients.
    Per feature: the share of missing values among the patients who have the modality.
    """
    rows, feats = [], []
    presence = cohort.modality_presence()
    for name in ("clinical", "genomics", "proteomics", "timeseries"):
        table = getattr(cohort, name)
        if table is None:
            continue
        values = table.drop(columns=[c for c in (PATIENT_ID, "visit", "batch") if c in table.columns])
        miss = values.isna().mean()
        present = int(presence[name].sum()) if name in presence else int(table[PATIENT_ID].nunique())
        rows.append({"modality": name, "patients_present": present, "patients_absent": cohort.n_patients - present,
                     "features": values.shape[1], "missing_share": float(values.isna().to_numpy().mean()) if values.size else 0.0})  # fmt: skip
        feats.append(pd.DataFrame({"modality": name, "feature": miss.index, "missing_share": miss.to_numpy()}))
    if cohort.ecg is not None:
        present = int(presence["ecg"].sum())
        rows.append({"modality": "ecg", "patients_present": present, "patients_absent": cohort.n_patients - present,
                     "features": cohort.ecg.signals.shape[1], "missing_share": 0.0})  # fmt: skip
    by_feature = pd.concat(feats, ignore_index=True).sort_values("missing_share", ascending=False, ignore_index=True)
    return pd.DataFrame(rows), by_feature


def baseline_table(cohort: Cohort, visit: int = 0, max_levels: int = 10) -> pd.DataFrame:
    """Table 1: mean (SD) or % per treatment arm, and the SMD of each arm vs the reference.

    SMD = (mean_arm - mean_ref) / sqrt((var_arm + var_ref) / 2) (Austin 2009); for a
    binary or one-hot variable the means are proportions. |SMD| > 0.1 flags imbalance.
    """
    X = cohort.feature_table(("clinical",))
    action = cohort.logged_actions(visit)
    levels = pd.Series([c.split("=")[0] for c in X.columns if "=" in c]).value_counts()
    X = X[[c for c in X.columns if "=" not in c or levels[c.split("=")[0]] <= max_levels]]
    ref = cohort.reference_index
    rows = []
    for col in X.columns:
        x = X[col].to_numpy(dtype=float)
        binary = set(np.unique(x[~np.isnan(x)])) <= {0.0, 1.0}
        row = {"variable": col, "kind": "%" if binary else "mean (SD)"}
        r = x[(action == ref) & ~np.isnan(x)]
        for a, name in enumerate(cohort.action_names):
            v = x[(action == a) & ~np.isnan(x)]
            row[name] = (f"{100 * v.mean():.1f}" if binary else f"{v.mean():.2f} ({v.std(ddof=1):.2f})") if len(v) > 1 else "-"
            if a != ref:
                pooled = np.sqrt((v.var(ddof=1) + r.var(ddof=1)) / 2) if len(v) > 1 and len(r) > 1 else np.nan
                row[f"smd_{name}"] = (v.mean() - r.mean()) / pooled if pooled and pooled > 0 else np.nan
        rows.append(row)
    counts = {"variable": "n", "kind": "patients", **{name: str(int((action == a).sum())) for a, name in enumerate(cohort.action_names)}}
    return pd.DataFrame([counts] + rows)


@dataclass(frozen=True, eq=False)
class QCReport:
    """Everything preparation did, in tables and log lines; ``save`` writes Markdown + CSVs."""

    linkage: pd.DataFrame
    duplicates: pd.DataFrame
    units: list[str]
    genotype_qc: dict[str, int]
    missing_by_modality: pd.DataFrame
    missing_by_feature: pd.DataFrame
    baseline: pd.DataFrame
    log: list[str] = field(default_factory=list)

    def to_markdown(self, top: int = 20) -> str:
        def md(frame: pd.DataFrame) -> str:
            return frame.to_markdown(index=False, floatfmt=".3f") if len(frame) else "_none_"

        parts = [
            "# Data preparation report", "",
            "## Sample linkage across modalities", md(self.linkage), "",
            "## Duplicates removed", md(self.duplicates), "",
            "## Unit harmonisation", *(f"- {line}" for line in self.units or ["no conversion needed"]), "",
            "## Genotype QC", md(pd.DataFrame([self.genotype_qc])) if self.genotype_qc else "_no genotypes_", "",
            "## Missingness by modality", md(self.missing_by_modality), "",
            f"## Missingness by feature (top {top})", md(self.missing_by_feature.head(top)), "",
            "## Baseline characteristics by treatment arm (SMD vs the reference arm)", md(self.baseline), "",
            "## Log", *(f"- {line}" for line in self.log), "",
        ]  # fmt: skip
        return "\n".join(parts)

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "qc_report.md"
        path.write_text(self.to_markdown())
        for name in QC_TABLES:
            getattr(self, name).to_csv(folder / f"qc_{name}.csv", index=False)
        return path
