"""The multimodal semi-synthetic simulator with ground truth (see :func:`simulate_cohort`)."""

from causalrx.data.simulate.core import simulate_cohort
from causalrx.data.simulate.drugs import CATALOGUE, DrugSpec, drug_specs
from causalrx.data.simulate.truth import GroundTruth, SimulatedCohort

__all__ = ["CATALOGUE", "DrugSpec", "GroundTruth", "SimulatedCohort", "drug_specs", "simulate_cohort"]
