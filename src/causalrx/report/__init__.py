"""Reports: cohort summaries, the end-to-end ``causalrx run`` job, plots."""

from causalrx.report.cohort_summary import CohortSummary, plot_effects, summarise_cohort
from causalrx.report.run import RunConfig, run_job

__all__ = ["CohortSummary", "RunConfig", "plot_effects", "run_job", "summarise_cohort"]
