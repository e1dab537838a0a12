"""From users' files to a validated :class:`~causalrx.data.schema.Cohort` and its QC report.

A preparation spec (a dict, or a YAML file) names the files and how their columns map to
the schema; relative paths are taken from the spec file's folder::

    drugs: [standard_care, clopidogrel, ticagrelor]   # the first is the reference arm
    clinical:   {path: clinical.csv, mapping: {PatID: patient_id}}
    treatments: {path: treatments.csv}
    outcomes:   {path: outcomes.csv}
    timeseries: {path: labs_long.csv}          # long format: patient_id, visit, variable, value[, unit]
    genotypes:  {path: cohort.vcf.gz, id_map: samples.csv, build: GRCh38, qc: {min_maf: 0.01, hwe_p: 1.0e-6}}
    proteomics: {path: olink.parquet, id_map: samples.csv}  # must have a 'batch' column for ComBat
    ecg:        {folder: ecg/, leads: [II], duration_s: 10}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from causalrx.data.io import link_samples, read_long_timeseries, read_table, read_vcf, read_wfdb, vcf_samples
from causalrx.data.schema import DRUG, PATIENT_ID, VISIT, Cohort
from causalrx.exceptions import ValidationError
from causalrx.prep.genotype import GenotypeQC
from causalrx.prep.report import QCReport, baseline_table, deduplicate, missingness
from causalrx.prep.units import harmonise_units

KNOWN = {"drugs", "reference", "clinical", "treatments", "outcomes", "timeseries", "genotypes", "proteomics", "ecg"}


def load_spec(spec: dict[str, Any] | str | Path) -> tuple[dict[str, Any], Path]:
    if isinstance(spec, (str, Path)):
        path = Path(spec)
        if not path.is_file():
            raise ValidationError(f"{path}: no such preparation spec")
        return yaml.safe_load(path.read_text()) or {}, path.parent
    return dict(spec), Path.cwd()


def _path(base: Path, value: str) -> Path:
    p = Path(value)
    return p if p.is_absolute() else base / p


def _id_map(entry: dict[str, Any], base: Path):
    return read_table(_path(base, entry["id_map"]), required=("sample_id", PATIENT_ID)) if entry.get("id_map") else None


def prepare_cohort(spec: dict[str, Any] | str | Path) -> tuple[Cohort, QCReport]:
    """Read every file of ``spec``, link sample ids, de-duplicate, harmonise units, and build
    the cohort with its :class:`QCReport`. Raises ValidationError naming the file/column."""
    spec, base = load_spec(spec)
    unknown = sorted(set(spec) - KNOWN)
    if unknown:
        raise ValidationError(f"spec: unknown section(s) {unknown}; known: {sorted(KNOWN)}")
    for key in ("drugs", "clinical", "treatments", "outcomes"):
        if key not in spec:
            raise ValidationError(f"spec: missing required section {key!r}")
    log, units, dups, links = [], [], [], []
    genotype_qc: dict[str, int] = {}

    def table(key: str, required: tuple[str, ...], keys: tuple[str, ...]) -> pd.DataFrame:
        entry = spec[key]
        path = _path(base, entry["path"])
        frame = read_table(path, entry.get("mapping"), required=required)
        frame, n = deduplicate(frame, keys, source=str(path))
        dups.append({"table": key, "file": path.name, "rows_read": len(frame) + n, "exact_duplicates_removed": n})
        frame, lines = harmonise_units(frame, source=key)
        units.extend(lines)
        return frame

    clinical = table("clinical", (PATIENT_ID,), (PATIENT_ID,))
    patients = clinical[PATIENT_ID]
    treatments = table("treatments", (PATIENT_ID, VISIT, DRUG), (PATIENT_ID, VISIT))
    outcomes = table("outcomes", (PATIENT_ID, VISIT), (PATIENT_ID, VISIT))
    parts: dict[str, Any] = {}
    if "timeseries" in spec:
        entry = spec["timeseries"]
        long = read_long_timeseries(_path(base, entry["path"]), entry.get("mapping"))
        long, n = deduplicate(long, (PATIENT_ID, VISIT, "variable"), source=entry["path"])
        dups.append({"table": "timeseries", "file": Path(entry["path"]).name, "rows_read": len(long) + n, "exact_duplicates_removed": n})
        long, lines = harmonise_units(long, source="timeseries")
        units.extend(lines)
        parts["timeseries"] = long.pivot(index=[PATIENT_ID, VISIT], columns="variable", values="value").reset_index()
        parts["timeseries"].columns.name = None
    if "genotypes" in spec:
        entry = spec["genotypes"]
        path = _path(base, entry["path"])
        sex = dict(zip(clinical[PATIENT_ID], clinical["sex"])) if "sex" in clinical.columns else None
        id_map = _id_map(entry, base)
        link = link_samples("genotypes", vcf_samples(path), patients, id_map, source=str(path))
        by_sample = {s: sex[p] for s, p in link.matched.items()} if sex is not None else None
        geno = read_vcf(path, build=entry.get("build", "GRCh38"), sex=by_sample, samples=list(link.matched))
        log.extend(geno.log)
        links.append(link)
        parts["genomics"] = geno.to_frame(link.matched)
        parts["variants"] = geno.variants
        male = np.array([str(by_sample[s]).upper().startswith("M") for s in geno.samples]) if by_sample else None
        qc = GenotypeQC(**entry.get("qc", {})).fit(geno.dosage, geno.variants["variant_id"], x_nonpar=geno.variants["x_nonpar"],
                                                  male=male, sample_ids=geno.samples)  # fmt: skip
        genotype_qc = qc.result_.summary()
    if "proteomics" in spec:
        entry = spec["proteomics"]
        path = _path(base, entry["path"])
        prot = read_table(path, entry.get("mapping"), required=(PATIENT_ID,))
        n_read = len(prot)
        link = link_samples("proteomics", prot[PATIENT_ID], patients, _id_map(entry, base), source=str(path))
        links.append(link)
        prot = prot[prot[PATIENT_ID].isin(list(link.matched))].assign(**{PATIENT_ID: lambda f: f[PATIENT_ID].map(link.matched)})
        parts["proteomics"], n = deduplicate(prot, (PATIENT_ID,), source=str(path))
        dups.append({"table": "proteomics", "file": path.name, "rows_read": n_read, "exact_duplicates_removed": n})
    if "ecg" in spec:
        entry = spec["ecg"]
        folder = _path(base, entry["folder"])
        records = sorted(p.with_suffix("") for p in folder.glob("*.hea"))
        if not records:
            raise ValidationError(f"{folder}: no WFDB records (*.hea)")
        link = link_samples("ecg", [r.name for r in records], patients, _id_map(entry, base), source=str(folder))
        links.append(link)
        use = [r for r in records if r.name in link.matched]
        parts["ecg"] = read_wfdb(use, leads=tuple(entry.get("leads", ("II",))), duration_s=float(entry.get("duration_s", 10.0)),
                                 fs=entry.get("fs"), ids=link.matched)  # fmt: skip
    cohort = Cohort(clinical=clinical, action_names=tuple(spec["drugs"]), treatments=treatments, outcomes=outcomes,
                    reference=spec.get("reference"), metadata={"prepared_from": str(base)}, **parts)  # fmt: skip
    linkage = pd.DataFrame([ln.summary() for ln in links]) if links else pd.DataFrame(columns=["modality"])
    for ln in links:
        if ln.unmatched:
            log.append(f"{ln.modality}: {len(ln.unmatched)} sample(s) match no patient and were excluded (e.g. {list(ln.unmatched[:3])})")
    by_mod, by_feat = missingness(cohort)
    report = QCReport(linkage=linkage, duplicates=pd.DataFrame(dups), units=units, genotype_qc=genotype_qc,
                      missing_by_modality=by_mod, missing_by_feature=by_feat, baseline=baseline_table(cohort), log=log)  # fmt: skip
    return cohort, report
