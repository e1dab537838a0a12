"""Parquet + manifest persistence: exact round trip, integrity checks."""

import json

import numpy as np
import pandas as pd
import pytest

from causalrx.data import Cohort
from causalrx.data.simulate import SimulatedCohort
from causalrx.exceptions import ValidationError

TABLES = ("clinical", "treatments", "outcomes", "genomics", "proteomics", "variants", "timeseries")


def test_round_trip_is_exact(small_sim, tmp_path):
    cohort = small_sim.cohort
    back = Cohort.load(cohort.save(tmp_path / "c"))
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(cohort, name), getattr(back, name), check_exact=True)
    np.testing.assert_array_equal(cohort.ecg.signals, back.ecg.signals)
    np.testing.assert_array_equal(cohort.ecg.patient_id, back.ecg.patient_id)
    assert back.ecg.signals.dtype == np.float32 and back.ecg.fs == cohort.ecg.fs and back.ecg.leads == cohort.ecg.leads
    assert back.action_names == cohort.action_names and back.reference == cohort.reference
    assert back.metadata == json.loads(json.dumps(cohort.metadata))


def test_simulated_cohort_round_trip_keeps_truth(small_sim, tmp_path):
    back = SimulatedCohort.load(small_sim.save(tmp_path / "s"))
    np.testing.assert_array_equal(back.truth.efficacy, small_sim.truth.efficacy)
    np.testing.assert_array_equal(back.truth.contraindicated, small_sim.truth.contraindicated)
    pd.testing.assert_frame_equal(back.truth.traits, small_sim.truth.traits)
    oracle = small_sim.oracle_policy()
    assert back.true_policy_value(oracle) == small_sim.true_policy_value(oracle)


def test_tampered_or_missing_files_are_reported(small_sim, tmp_path):
    folder = small_sim.cohort.save(tmp_path / "c")
    clinical = pd.read_parquet(folder / "clinical.parquet")
    clinical.loc[0, "age"] = 1.0
    clinical.to_parquet(folder / "clinical.parquet", index=False)
    with pytest.raises(ValidationError, match=r"clinical.parquet: checksum differs from manifest.json"):
        Cohort.load(folder)
    folder = small_sim.cohort.save(tmp_path / "c2")
    (folder / "genomics.parquet").unlink()
    with pytest.raises(ValidationError, match=r"table 'genomics' lists genomics.parquet which does not exist"):
        Cohort.load(folder)
    with pytest.raises(ValidationError, match="no manifest.json"):
        Cohort.load(tmp_path / "nowhere")
