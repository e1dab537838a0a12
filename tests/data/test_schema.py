"""Cohort construction: every validation error names its field and the offending rows."""

import numpy as np
import pandas as pd
import pytest

from causalrx.data import Cohort, EcgWaveforms
from causalrx.exceptions import ValidationError

DRUGS = ("standard_care", "clopidogrel", "warfarin")


def _parts(n=4):
    ids = [f"p{i}" for i in range(n)]
    return dict(
        clinical=pd.DataFrame({"patient_id": ids, "age": np.linspace(40, 80, n), "sex": ["F", "M"] * (n // 2)}),
        action_names=DRUGS,
        treatments=pd.DataFrame({"patient_id": ids, "visit": 0, "drug": ["standard_care", "clopidogrel", "warfarin", "warfarin"][:n]}),
        outcomes=pd.DataFrame({"patient_id": ids, "visit": 0, "efficacy": np.arange(n, dtype=float), "adverse_event": [0, 1, 0, 0][:n]}),
    )


def test_valid_cohort_views():
    parts = _parts()
    parts["genomics"] = pd.DataFrame({"patient_id": ["p1", "p3"], "snp1": [0.0, 2.0], "CYP2C19": ["poor", "normal"]})
    cohort = Cohort(**parts)
    assert cohort.reference == "standard_care" and cohort.n_actions == 3
    np.testing.assert_array_equal(cohort.logged_actions(), [0, 1, 2, 2])
    presence = cohort.modality_presence()
    assert presence["genomics"].tolist() == [False, True, False, True]
    table = cohort.feature_table()
    assert table["has_genomics"].tolist() == [0, 1, 0, 1]
    assert np.isnan(table.loc["p0", "genomics.snp1"])
    assert table.loc["p1", "genomics.CYP2C19=poor"] == 1.0
    assert table.loc["p0", "sex=F"] == 1.0


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda p: p.__setitem__("clinical", p["clinical"].drop(columns="patient_id")), r"clinical: missing required column\(s\) \['patient_id'\]"),
        (lambda p: p["clinical"].loc.__setitem__((1, "patient_id"), None), r"clinical: 1 row\(s\) have a missing 'patient_id'"),
        (lambda p: p["clinical"].loc.__setitem__((2, "patient_id"), "p0"), r"clinical: 1 row\(s\) repeat a 'patient_id'"),
        (lambda p: p["treatments"].loc.__setitem__((1, "drug"), "aspirin"), r"treatments.drug: 1 row\(s\) name a drug that is not in action_names \(unknown: 'aspirin'"),
        (lambda p: p["treatments"].loc.__setitem__((1, "drug"), np.nan), r"treatments.drug: 1 row\(s\) have a missing drug \(NaN action\)"),
        (lambda p: p["treatments"].loc.__setitem__((3, "patient_id"), "zz"), r"treatments: 1 row\(s\) have a 'patient_id' that is not in the clinical table"),
        (lambda p: p["outcomes"].loc.__setitem__((0, "efficacy"), np.nan), r"outcomes: missing values in 'efficacy' \(1 rows\)"),
        (lambda p: p["outcomes"].loc.__setitem__((1, "patient_id"), "p0"), r"outcomes: 1 row\(s\) repeat a \(patient_id, visit\) key"),
        (lambda p: p.__setitem__("action_names", ("a",)), r"action_names: expected at least 2 drugs"),
        (lambda p: p.__setitem__("action_names", ("a", "a", "b")), r"action_names: drug names must be unique"),
        (lambda p: p.__setitem__("reference", "placebo"), r"reference: 'placebo' is not one of action_names"),
        (lambda p: p.__setitem__("genomics", pd.DataFrame({"patient_id": ["p1", "x9", "x8"], "s": [0, 1, 2]})), r"genomics: 2 row\(s\) have a 'patient_id' that is not in the clinical table"),
    ],
)
def test_cohort_validation_errors(mutate, message):
    parts = _parts()
    mutate(parts)
    with pytest.raises(ValidationError, match=message):
        Cohort(**parts)


def test_ecg_validation_errors():
    ok = np.zeros((2, 1, 50), dtype=np.float32)
    with pytest.raises(ValidationError, match=r"ecg: signals has 2 record\(s\) but patient_id has 3"):
        EcgWaveforms(patient_id=np.array(["p0", "p1", "p2"]), signals=ok, fs=100.0, leads=("II",))
    with pytest.raises(ValidationError, match=r"ecg.signals: expected an array of shape \(n_patients, n_leads, n_samples\)"):
        EcgWaveforms(patient_id=np.array(["p0", "p1"]), signals=ok[:, 0], fs=100.0, leads=("II",))
    with pytest.raises(ValidationError, match=r"ecg: signals has 1 lead\(s\) but leads names 2"):
        EcgWaveforms(patient_id=np.array(["p0", "p1"]), signals=ok, fs=100.0, leads=("I", "II"))
    bad = ok.copy()
    bad[1, 0, 3] = np.nan
    with pytest.raises(ValidationError, match=r"ecg.signals: 1 record\(s\) contain NaN"):
        EcgWaveforms(patient_id=np.array(["p0", "p1"]), signals=bad, fs=100.0, leads=("II",))
    with pytest.raises(ValidationError, match=r"ecg: 1 row\(s\) repeat a 'patient_id'"):
        EcgWaveforms(patient_id=np.array(["p0", "p0"]), signals=ok, fs=100.0, leads=("II",))
    parts = _parts()
    parts["ecg"] = EcgWaveforms(patient_id=np.array(["p0", "q1"]), signals=ok, fs=100.0, leads=("II",))
    with pytest.raises(ValidationError, match=r"ecg: 1 record\(s\) have a 'patient_id' that is not in the clinical table"):
        Cohort(**parts)
