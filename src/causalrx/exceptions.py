"""Errors raised on bad input. Each message names the field and what was expected."""

import math
import numbers


class ValidationError(ValueError):
    """User input does not satisfy the causalrx data model.

    The message names the table or field, what was expected, and how many rows offend.
    """


class PositivityError(ValidationError):
    """A quantity needs a probability that is zero (or missing) in the logged data."""


def check_number(name: str, value, *, zero_ok: bool = False, inf_ok: bool = False, hint: str = "") -> float:
    """``value`` as a float when it is a real number (numpy ones included, bools not) that is
    positive (or zero when ``zero_ok``) and finite (or +inf when ``inf_ok``); otherwise a
    :class:`ValidationError` that names ``name``, says what was expected (plus ``hint``) and
    what came."""
    real = isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)
    if not (real and (value >= 0 if zero_ok else value > 0) and (inf_ok or math.isfinite(value))):
        sign = "non-negative" if zero_ok else "positive"
        raise ValidationError(f"{name}: expected a {sign} {'' if inf_ok else 'finite '}number{hint}, got {value!r}")
    return float(value)
