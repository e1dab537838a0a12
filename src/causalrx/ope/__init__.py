"""Off-policy evaluation: every policy gets a value with an honest confidence interval.

One-step estimators (:class:`IPS`, :class:`SNIPS`, :class:`DM`, :class:`DR`, :class:`SNDR`,
:class:`SwitchDR`, :class:`DRos`) share one interface,
``Estimator(...).estimate(feedback, action_dist, estimated_rewards=None, inference=...)``,
returning a :class:`PolicyValue` with a confidence interval (:class:`NormalInterval` or
:class:`Bootstrap`) and :class:`WeightDiagnostics`. :func:`lower_bound` gives one-sided high-confidence bounds
and :func:`select_policy` chooses among candidate policies by value or bound
(:mod:`causalrx.ope.confidence`).
"""

from causalrx.ope.audit import MaskAudit, audit
from causalrx.ope.confidence import LowerBound, Selection, lower_bound, select_policy, sequential_lower_bound
from causalrx.ope.constraints import ConstraintReport, constraint_report
from causalrx.ope.compare import PolicyComparison, compare_policies, plot_policy_values
from causalrx.ope.estimators import (
    ALL_ESTIMATORS, DM, DR, IPS, SNDR, SNIPS, DRos, PolicyValue, SwitchDR, estimate_all, select_parameter,
)  # fmt: skip
from causalrx.ope.inference import Bootstrap, NormalInterval
from causalrx.ope.inputs import OverlapWarning, WeightDiagnostics
from causalrx.ope.reward_model import RewardModel

__all__ = [
    "ALL_ESTIMATORS", "Bootstrap", "ConstraintReport", "constraint_report", "DM", "DR", "DRos", "IPS", "MaskAudit", "NormalInterval", "OverlapWarning",
    "PolicyComparison", "PolicyValue", "RewardModel", "SNDR", "SNIPS", "SwitchDR", "WeightDiagnostics", "audit",
    "compare_policies", "estimate_all", "plot_policy_values", "select_parameter", "LowerBound", "Selection", "lower_bound",
    "select_policy", "sequential_lower_bound",
]  # fmt: skip
