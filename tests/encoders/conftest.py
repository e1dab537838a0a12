import dataclasses

import numpy as np
import pytest
from scipy.special import expit

from causalrx.data.simulate import simulate_cohort
from causalrx.data.simulate.traits import long_qt


def with_labels(sim, seed=0):
    """The cohort plus per-modality labels drawn from each modality's own latent signal."""
    t = sim.truth.traits
    rng = np.random.default_rng(seed)
    z = {
        "clinical_label": 1.2 * t["age_z"].to_numpy() + 1.5 * t["diabetes"].to_numpy() - 0.8,
        "genomics_label": 2.0 * t["prs"].to_numpy() / t["prs"].std() - 1.0,
        "proteomics_label": 1.2 * t["ntprobnp_z"].to_numpy() + 1.2 * t["gdf15_z"].to_numpy() - 1.0,
    }
    out = sim.cohort.outcomes.copy()
    rows = np.searchsorted(sim.cohort.patient_ids, out["patient_id"])
    for name, logit in z.items():
        out[name] = (rng.uniform(size=len(logit)) < expit(logit)).astype(int)[rows]
    out["long_qt"] = long_qt(t).astype(int)[rows]
    return dataclasses.replace(sim.cohort, outcomes=out)


@pytest.fixture(scope="session")
def small_sim():
    return simulate_cohort(n=1500, n_drugs=3, random_state=4, ecg=False)


@pytest.fixture(scope="session")
def labelled():
    return with_labels


@pytest.fixture(scope="session")
def small_cohort(small_sim):
    return with_labels(small_sim)
