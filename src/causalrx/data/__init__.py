"""Data model (cohorts, logged feedback, trajectories), simulators and loaders."""

from causalrx.data.feedback import BanditFeedback, Trajectories
from causalrx.data.schema import Cohort, EcgWaveforms
from causalrx.data.utility import Utility

__all__ = ["BanditFeedback", "Cohort", "EcgWaveforms", "Trajectories", "Utility"]
