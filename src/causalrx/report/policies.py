"""The policy stage of ``causalrx run``: learn recommendation policies under the safety mask
and compare them off-policy against the clinicians, with the simulator's true values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from causalrx.compare import compare
from causalrx.data.problem import DecisionProblem
from causalrx.data.simulate import SimulatedCohort
from causalrx.policy import DRPolicyLearner, EffectGreedyPolicy, LoggedPolicy, PolicyTreeLearner, ReferencePolicy, UniformPolicy
from causalrx.safety import RuleSet


def compare_on_cohort(sim: SimulatedCohort, Z: np.ndarray, folder: Path, *, random_state: int = 0, progress: bool = False) -> pd.DataFrame:
    """Cross-fit effect-greedy, a depth-2 policy tree and the DR bandit learner on covariates
    ``Z`` (baseline visit) beside the clinicians (cloned), uniform and reference baselines;
    evaluate each with every one-step estimator. Writes ``policies.csv`` and ``policies.png``."""
    mask = RuleSet.default().evaluate(sim.cohort).allowed
    k = sim.cohort.n_actions
    logged = sim.bandit_feedback(Z, mask=mask)
    problem = DecisionProblem.from_arrays(logged.context, logged.action_names, sim.cohort.reference, mask=mask,
                                          action=logged.action, reward=logged.reward, propensity=sim.truth.propensity,
                                          patient_ids=sim.cohort.patient_ids)  # fmt: skip
    policies = {
        "clinicians (cloned)": LoggedPolicy(), "uniform": UniformPolicy(k), "reference": ReferencePolicy(k, sim.cohort.reference_index),
        "effect-greedy": EffectGreedyPolicy(random_state=random_state), "policy tree": PolicyTreeLearner(max_depth=2, random_state=random_state),
        "DR bandit": DRPolicyLearner(random_state=random_state),
    }  # fmt: skip
    result = compare(problem, policies, oracle_value=sim.true_policy_value(sim.oracle_policy(mask)),
                     true_value=lambda name, p: sim.true_policy_value(p.action_dist(Z, mask)), plot_path=folder / "policies.png",
                     progress=progress, random_state=random_state)  # fmt: skip
    result.table.to_csv(folder / "policies.csv", index=False)
    return result.table


def to_markdown(table: pd.DataFrame) -> str:
    dr = table[table["estimator"] == "DR"][["policy", "value", "lower", "upper", "true_value", "regret", "mask_violations", "fit_seconds"]]
    return "\n".join([
        "## Policies (off-policy comparison)", "",
        "Learned policies are cross-fitted over two folds of patients and never put mass on a masked drug. Doubly robust",
        "estimates with 95% intervals, beside the true value and the regret against the masked oracle (all estimators:",
        "`policies.csv`).", "", dr.to_markdown(index=False, floatfmt=".3f"), "", "![policies](policies.png)", "",
    ])  # fmt: skip
