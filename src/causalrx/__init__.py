"""causalrx: causal inference and off-policy evaluation of drug-recommendation strategies.

Every recommendation produced with causalrx is decision support for a clinician, never a
prescription (see :data:`causalrx.DISCLAIMER`).
"""

from causalrx.disclaimer import DISCLAIMER
from causalrx.exceptions import PositivityError, ValidationError
from causalrx.parallel import short_openmp_spin

# Before scikit-learn or torch load OpenMP: threads that wait spin briefly instead of for milliseconds,
# so that fits do not slow down many times over when other processes share the CPUs. No effect when
# GOMP_SPINCOUNT or OMP_WAIT_POLICY is set, or when OpenMP was loaded before causalrx.
short_openmp_spin()

__version__ = "0.1.0"

__all__ = ["DISCLAIMER", "PositivityError", "ValidationError", "__version__"]
