"""Raw example files, as users bring them, written from a simulated cohort.

The files carry the problems preparation exists for: clinical columns under the site's own
names (so a mapping is needed), creatinine in umol/L at one centre and mg/dL elsewhere,
exact duplicate rows, genotype and proteomics sample ids that differ from patient ids
(linked by an id map), a few proteomics samples of nobody, batch labels, missing values,
and ECG as WFDB records.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from causalrx.data.io import write_vcf, write_wfdb
from causalrx.data.schema import PATIENT_ID


def write_example_files(folder: str | Path, n: int = 500, n_drugs: int = 4, random_state: int = 0) -> Path:
    """Simulate ``n`` patients and write them as raw files plus ``spec.yaml``; returns the spec path."""
    from causalrx.data.simulate import simulate_cohort

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    c = simulate_cohort(n=n, n_drugs=n_drugs, random_state=random_state).cohort
    clinical = c.clinical.copy()
    # Serum creatinine from eGFR (CKD-EPI 2021 inverted for the common branch), umol/L at centre C2.
    female = clinical["sex"] == "F"
    scr = (clinical["egfr"] / (142 * 0.9938 ** clinical["age"] * np.where(female, 1.012, 1.0))) ** (-1 / 1.2)
    scr = scr * np.where(female, 0.7, 0.9)
    clinical["creatinine"] = np.where(clinical["centre"] == "C2", scr * 88.42, scr).round(2)
    clinical = clinical.rename(columns={PATIENT_ID: "PatID", "age": "AgeYears"})
    clinical = pd.concat([clinical, clinical.sample(5, random_state=random_state)], ignore_index=True)  # exact duplicates
    clinical.to_csv(folder / "clinical.csv", index=False)
    c.treatments.to_csv(folder / "treatments.csv", index=False)
    c.outcomes.to_csv(folder / "outcomes.csv", index=False)
    long = c.timeseries.melt(id_vars=[PATIENT_ID, "visit"], value_vars=["severity"], var_name="variable", value_name="value")
    long.to_csv(folder / "timeseries_long.csv", index=False)
    samples = pd.DataFrame({"sample_id": [f"S{i:06d}" for i in range(c.n_patients)], PATIENT_ID: c.patient_ids})
    samples.to_csv(folder / "samples.csv", index=False)
    to_sample = dict(zip(samples[PATIENT_ID], samples["sample_id"]))
    v = c.variants
    g = c.genomics.set_index(PATIENT_ID)
    sex = c.clinical.set_index(PATIENT_ID).loc[g.index, "sex"]
    write_vcf(folder / "genotypes.vcf", [to_sample[p] for p in g.index], g[v["variant_id"]].to_numpy(dtype=float), v, male=(sex == "M").to_numpy())
    prot = c.proteomics.copy()
    prot[PATIENT_ID] = prot[PATIENT_ID].map(to_sample)
    strays = prot.sample(3, random_state=random_state).assign(**{PATIENT_ID: [f"QC{i}" for i in range(3)]})
    pd.concat([prot, strays], ignore_index=True).to_csv(folder / "proteomics.csv", index=False)
    write_wfdb(c.ecg, folder / "ecg")
    spec = {
        "drugs": list(c.action_names),
        "clinical": {"path": "clinical.csv", "mapping": {"PatID": PATIENT_ID, "AgeYears": "age"}},
        "treatments": {"path": "treatments.csv"}, "outcomes": {"path": "outcomes.csv"},
        "timeseries": {"path": "timeseries_long.csv"},
        "genotypes": {"path": "genotypes.vcf", "id_map": "samples.csv"},
        "proteomics": {"path": "proteomics.csv", "id_map": "samples.csv"},
        "ecg": {"folder": "ecg", "leads": ["II"], "duration_s": float(c.ecg.duration_s)},
    }  # fmt: skip
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path
