"""Cohort inputs are what they claim to be: numbers in number columns, finite outcomes, whole
visits, at least one patient; off-policy inference refuses what it cannot measure."""

import numpy as np
import pandas as pd
import pytest

from causalrx.data import Cohort
from causalrx.data.feedback import BanditFeedback
from causalrx.exceptions import ValidationError
from causalrx.ope import IPS, SNIPS, Bootstrap, OverlapWarning

IDS = ["a", "b", "c", "d"]


def _cohort(**over):
    parts = {
        "clinical": pd.DataFrame({"patient_id": IDS, "age": [70.0, 55.0, 61.0, 48.0], "egfr": [60.0, 25.0, 90.0, 45.0],
                                  "centre": ["x", "y", "x", "y"]}),
        "treatments": pd.DataFrame({"patient_id": IDS, "visit": 0, "drug": ["a0", "a1", "a0", "a1"]}),
        "outcomes": pd.DataFrame({"patient_id": IDS, "visit": 0, "y": [1.0, 0.0, 1.0, 0.5]}),
    }  # fmt: skip
    for key, change in over.items():
        parts[key] = change(parts[key].copy())
    return Cohort(action_names=("a0", "a1"), **parts)


def _set(col, values):
    def change(t):
        t[col] = pd.Series(values, dtype=object) if any(isinstance(v, str) for v in values) else values
        return t

    return change


CASES = [
    ({"clinical": _set("age", ["seventy", 55.0, 61.0, 48.0])}, r"clinical.age: expected numbers, found text such as 'seventy' in 1 row"),
    ({"clinical": _set("egfr", ["25 mL/min", "30 mL/min", "40 mL/min", "90 mL/min"])}, r"clinical.egfr: expected numbers, found text such as '25 mL/min'"),
    ({"clinical": _set("egfr", ["25", "30", "40", "90"])}, r"clinical.egfr: expected numbers, found numbers stored as text"),
    ({"clinical": _set("weight_kg", ["70", "80", "n/a", "90"])}, r"clinical.weight_kg: expected numbers, found text such as 'n/a'"),
    ({"outcomes": _set("y", [1.0, np.inf, 0.0, 0.0])}, r"outcomes.y: 1 row\(s\) are infinite \(patients 'b'\)"),
    ({"outcomes": _set("y", ["good", "bad", "good", "bad"])}, r"outcomes.y: expected numbers"),
    ({"treatments": _set("visit", [0, 0.5, 0, 0])}, r"treatments.visit: 1 row\(s\) are not whole numbers >= 0 \(e.g. 0.5\)"),
    ({"outcomes": _set("visit", [0, -1, 0, 0])}, r"outcomes.visit: 1 row\(s\) are not whole numbers >= 0"),
    ({"treatments": _set("visit", ["0", "0", "0", "0"])}, r"treatments.visit: expected whole numbers >= 0"),
    ({"clinical": lambda t: t.iloc[:0], "treatments": lambda t: t.iloc[:0], "outcomes": lambda t: t.iloc[:0]}, r"clinical: no patients"),
    ({"treatments": lambda t: t.iloc[:0]}, r"treatments: no rows"),
]


@pytest.mark.parametrize("over, message", CASES)
def test_bad_cohort_inputs_are_named_errors(over, message):
    with pytest.raises(ValidationError, match=message):
        _cohort(**over)


def test_good_inputs_and_text_categories_still_pass():
    cohort = _cohort()
    assert list(cohort.feature_table().columns) == ["age", "egfr", "centre=x", "centre=y"]
    free = _cohort(clinical=_set("note", [f"free text {i}" for i in range(4)]))
    assert free.n_patients == 4  # a text column of few levels is a category


def test_free_text_with_many_levels_is_refused_not_exploded():
    n = 60
    ids = [f"p{i}" for i in range(n)]
    cohort = Cohort(clinical=pd.DataFrame({"patient_id": ids, "note": [f"note {i}" for i in range(n)]}), action_names=("a0", "a1"),
                    treatments=pd.DataFrame({"patient_id": ids, "visit": 0, "drug": "a0"}),
                    outcomes=pd.DataFrame({"patient_id": ids, "visit": 0, "y": 1.0}))  # fmt: skip
    with pytest.raises(ValidationError, match=r"note: 60 distinct text values .* \(at most 50\)"):
        cohort.feature_table()


def _feedback(n, tiny=None):
    rng = np.random.default_rng(0)
    pscore = np.full(n, 0.5)
    if tiny is not None:
        pscore[0] = tiny
    return BanditFeedback(context=np.zeros((n, 1)), action=np.r_[1, rng.integers(0, 2, n - 1)] if n else np.array([], int),
                          reward=rng.normal(size=n), pscore=pscore, action_names=("a", "b"))  # fmt: skip


def test_extreme_propensities_are_flagged_and_never_give_an_infinite_interval():
    target = np.tile([0.0, 1.0], (200, 1))
    with pytest.warns(OverlapWarning, match=r"one round \(index 0, logging probability 1e-300\) carries 100.0%"):
        with pytest.raises(ValidationError, match=r"IPS: .* not finite; the largest importance weight is 1e\+300 \(round 0"):
            IPS().estimate(_feedback(200, 1e-300), target)
    with pytest.warns(OverlapWarning, match="one round"):
        value = SNIPS().estimate(_feedback(200, 1e-300), target)
    assert np.isfinite([value.value, value.lower, value.upper]).all()  # self-normalised: finite, and flagged
    with pytest.warns(OverlapWarning, match=r"one round \(index 0, logging probability 1e-06\)"):
        clipped = IPS(clip=100.0).estimate(_feedback(200, 1e-6), target)
    assert np.isfinite([clipped.lower, clipped.upper]).all()


def test_too_few_rounds_for_an_interval_is_a_named_error():
    with pytest.raises(ValidationError, match="no logged round"):
        _feedback(0)
    for inference, name in [(None, "a normal interval"), (Bootstrap(n_bootstrap=50, random_state=0), "a bootstrap interval")]:
        with pytest.raises(ValidationError, match=f"n_rounds: {name} needs at least 2 logged rounds .* got 1"):
            IPS().estimate(_feedback(1), np.array([[0.0, 1.0]]), inference=inference)
