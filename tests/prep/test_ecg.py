import numpy as np
import pandas as pd
import pytest

from causalrx.data.schema import EcgWaveforms
from causalrx.data.simulate import simulate_cohort
from causalrx.data.simulate.ecg import synthesize_ecg
from causalrx.exceptions import ValidationError
from causalrx.prep import Preprocessor, ecg_rhythm_features


def _records(hr, leads=("II", "V1"), fs=100.0, seed=0):
    rng = np.random.default_rng(seed)
    n = len(hr)
    signals = synthesize_ecg(hr, np.full(n, 95.0), rng.normal(420, 20, n), rng, fs=fs, duration_s=10.0, leads=leads)
    return EcgWaveforms(patient_id=np.array([f"P{i}" for i in range(n)]), signals=signals, fs=fs, leads=leads)


@pytest.mark.parametrize("lead", ["II", "V1"])  # V1: the QRS is mainly negative
@pytest.mark.parametrize("fs", [100.0, 250.0])
def test_heart_rate_matches_the_simulated_rate(lead, fs):
    hr = np.random.default_rng(1).uniform(45, 130, 150)
    features = ecg_rhythm_features(_records(hr, fs=fs), lead=lead)
    assert list(features.index[:2]) == ["P0", "P1"]
    error = np.abs(features["heart_rate_bpm"].to_numpy() - hr)
    assert np.median(error) < 1.0 and error.max() < 6.0
    # respiratory sinus arrhythmia: RR intervals vary by tens of ms, never by seconds
    assert features["rr_sd_ms"].between(0, 200).all()
    assert features.attrs["undetermined"] == 0


def test_unreadable_records_are_nan_never_a_made_up_rate():
    ecg = _records(np.array([60.0, 80.0, 100.0]), leads=("II",))
    signals = ecg.signals.copy()
    signals[0] = 0.0  # flat line
    signals[1, 0, :] = np.linspace(0.0, 1.0, signals.shape[2])  # a ramp: no beat at all
    out = ecg_rhythm_features(EcgWaveforms(patient_id=ecg.patient_id, signals=signals, fs=ecg.fs, leads=ecg.leads))
    assert out["heart_rate_bpm"].isna().tolist() == [True, True, False]
    assert out.attrs["undetermined"] == 2
    with pytest.raises(ValidationError, match="lead: 'V5'"):
        ecg_rhythm_features(ecg, lead="V5")


def test_preprocessor_adds_the_rhythm_with_training_medians_for_patients_without_a_record():
    sim = simulate_cohort(n=300, n_drugs=3, random_state=5, ecg=True)
    cohort = sim.cohort
    train = cohort.patient_ids[:200]
    table = Preprocessor(random_state=0).fit(cohort, patients=train).transform(cohort)
    hr = sim.truth.traits.set_index("patient_id")["hr_bpm"].reindex(table.index)
    has = table["has_ecg"] == 1
    assert 0 < (~has).sum() and table[["ecg.heart_rate_bpm", "ecg.rr_sd_ms"]].notna().all().all()
    assert np.corrcoef(table.loc[has, "ecg.heart_rate_bpm"], hr[has])[0, 1] > 0.99
    train_rhythm = ecg_rhythm_features(cohort.ecg).reindex(pd.Index(train)).dropna()
    assert np.allclose(table.loc[~has, "ecg.heart_rate_bpm"], train_rhythm["heart_rate_bpm"].median())
    plain = Preprocessor(ecg_rhythm=False, random_state=0).fit(cohort, patients=train).transform(cohort)
    assert not plain.columns.str.startswith("ecg.").any()
