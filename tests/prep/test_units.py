import pandas as pd
import pytest

from causalrx.exceptions import ValidationError
from causalrx.prep import harmonise_units


def test_creatinine_umol_detected_and_converted():
    t = pd.DataFrame({"patient_id": list("abcd"), "creatinine": [1.1, 97.2, 0.8, 150.0]})
    out, log = harmonise_units(t, source="clinical.csv")
    assert out["creatinine"].round(3).tolist() == [1.1, round(97.2 / 88.42, 3), 0.8, round(150 / 88.42, 3)]
    assert log == ["clinical.csv: creatinine: 2 of 4 value(s) without a unit exceed 25 mg/dL, read as umol/L and converted to mg/dL (x0.0113097)"]


def test_unit_column_used_row_by_row_and_removed():
    t = pd.DataFrame({"patient_id": list("ab"), "creatinine": [88.42, 1.0], "creatinine_unit": ["µmol/L", "mg/dL"]})
    out, log = harmonise_units(t)
    assert out["creatinine"].tolist() == pytest.approx([1.0, 1.0]) and "creatinine_unit" not in out
    assert any("1 value(s) in µmol/L converted" in line for line in log)
    with pytest.raises(ValidationError, match="unit 'furlongs' not understood"):
        harmonise_units(t.assign(creatinine_unit=["furlongs", "mg/dL"]))


def test_long_format_and_implausible_values_kept():
    t = pd.DataFrame({"patient_id": ["a", "a", "b"], "visit": [0, 1, 0], "variable": ["glucose"] * 3, "value": [90.0, 5.5, 0.2], "unit": ["mg/dL", "mmol/L", "mmol/L"]})
    out, log = harmonise_units(t)
    assert out["value"].round(2).tolist() == [5.0, 5.5, 0.2] and set(out["unit"]) == {"mmol/L"}
    assert any("1 value(s) outside the plausible range" in line for line in log)
