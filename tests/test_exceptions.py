import numpy as np
import pytest

from causalrx.exceptions import ValidationError, check_number


@pytest.mark.parametrize("value", [1, 2.5, np.int64(3), np.float32(0.5), np.float64(1e-9)])
def test_positive_numbers_pass_as_floats(value):
    out = check_number("clip", value)
    assert type(out) is float and out == float(value)


@pytest.mark.parametrize("value", [0, -1.0, np.float64(-2), float("nan"), float("inf"), True, "3", None, [1.0]])
def test_non_positive_or_non_numbers_are_named(value):
    with pytest.raises(ValidationError, match=r"^clip: expected a positive finite number, got "):
        check_number("clip", value)


def test_zero_and_inf_only_when_allowed():
    assert check_number("screen", 0, zero_ok=True) == 0.0
    assert check_number("clip", np.inf, inf_ok=True) == np.inf
    with pytest.raises(ValidationError, match=r"screen: expected a non-negative finite number of SEs, got -0.5"):
        check_number("screen", -0.5, zero_ok=True, hint=" of SEs")
    with pytest.raises(ValidationError, match=r"clip: expected a positive number, got -inf"):
        check_number("clip", -np.inf, inf_ok=True)
