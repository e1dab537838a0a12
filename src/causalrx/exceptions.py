"""Errors raised on bad input. Each message names the field and what was expected."""


class ValidationError(ValueError):
    """User input does not satisfy the causalrx data model.

    The message names the table or field, what was expected, and how many rows offend.
    """


class PositivityError(ValidationError):
    """A quantity needs a probability that is zero (or missing) in the logged data."""
