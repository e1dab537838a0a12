"""Errors raised on bad input. Each message names the field and what was expected."""

import math
import numbers

import numpy as np


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


def seed_from(random_state) -> int:
    """The integer seed of a library that takes one (torch, d3rlpy): ``random_state`` itself,
    or a fresh seed from the operating system's entropy when it is ``None``."""
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(random_state, (bool, np.bool_)) or not isinstance(random_state, (int, np.integer)) or random_state < 0:
        raise ValidationError(f"random_state: expected a non-negative integer or None, got {random_state!r}")
    return int(random_state)
