"""causalrx: causal inference and off-policy evaluation of drug-recommendation strategies.

Every recommendation produced with causalrx is decision support for a clinician, never a
prescription (see :data:`causalrx.DISCLAIMER`).
"""

from causalrx.disclaimer import DISCLAIMER
from causalrx.exceptions import PositivityError, ValidationError

__version__ = "0.1.0"

__all__ = ["DISCLAIMER", "PositivityError", "ValidationError", "__version__"]
