"""The decision-support statement that every causalrx output carries."""

DISCLAIMER = (
    "Decision support only: causalrx estimates are for review by a qualified clinician "
    "and are never a prescription. Drugs masked by a safety rule are never recommended."
)
