"""Policies on the simulator: true value, off-policy estimates with CIs, regret, mask violations, fit time.

One-step part: the baseline-visit cohort (``--n`` patients, 6 drugs); covariates = the raw
feature table (median-imputed, SNP dosages left out). Learners are cross-fitted over two
folds by :func:`causalrx.compare.compare`, so each acts only on patients it never saw;
OPE uses the logged propensities and a cross-fitted reward model. Oracle = the best allowed
drug by the true expected net reward.

Multi-visit part: ``--episodes`` patients x 4 visits; observation = compact clinical and
pharmacogene context + visit + observed severity + previous drug. Learners: behaviour
cloning and d3rlpy DiscreteCQL / DiscreteBCQ / NFQ (all masked); OPE: PDIS, WPDIS,
sequential DR and WDR (Q from FQE) and FQE itself; true values by rollout of the true
dynamics. The reference "oracle" is the one-step oracle applied at every visit (the
drug with the best true immediate net reward, which also lowers future severity); the
true optimum of the episode is not known in closed form, so a negative regret is possible.

    .venv/bin/python benchmarks/bench_policies.py [--n 5000] [--episodes 2000] [--seed 0] [--out bench-policies]
"""

from __future__ import annotations

import argparse
import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from causalrx.compare import compare
from causalrx.data.simulate import simulate_cohort
from causalrx.ope.fqe import FQE
from causalrx.policy import (
    DRPolicyLearner, EffectGreedyPolicy, GuidelinePolicy, LoggedPolicy, OfflineRLPolicy, PolicyTreeLearner, ReferencePolicy,
    UniformPolicy,
)  # fmt: skip
from causalrx.report.representation import raw_covariates
from causalrx.safety import RuleSet

warnings.filterwarnings("ignore")
GUIDELINE = [
    {"id": "diabetes", "when": {"field": "diabetes", "is": True}, "prefer": ["metformin"]},
    {"id": "af", "when": {"field": "atrial_fibrillation", "is": True}, "prefer": ["warfarin", "sotalol"]},
    {"id": "cv-risk", "when": {"field": "hypertension", "is": True}, "prefer": ["simvastatin", "clopidogrel"]},
]
COLUMNS = ["policy", "estimator", "value", "lower", "upper", "true_value", "covered", "regret", "mask_violations", "fit_seconds"]


def one_step(n: int, seed: int, out: Path) -> pd.DataFrame:
    sim = simulate_cohort(n=n, n_drugs=6, random_state=seed, ecg=False)
    mask = RuleSet.default().evaluate(sim.cohort).allowed
    X = raw_covariates(sim.cohort)
    logged = sim.bandit_feedback(X, mask=mask)
    names = sim.cohort.action_names
    policies = {
        "clinicians (cloned)": LoggedPolicy(), "uniform": UniformPolicy(len(names)), "reference": ReferencePolicy(len(names), reference=sim.cohort.reference_index),
        "guideline": GuidelinePolicy(GUIDELINE, action_names=names), "effect-greedy": EffectGreedyPolicy(random_state=seed),
        "policy tree (depth 3)": PolicyTreeLearner(max_depth=3, random_state=seed),
        "policy forest": PolicyTreeLearner(forest=True, max_depth=4, random_state=seed), "DR bandit": DRPolicyLearner(random_state=seed),
    }  # fmt: skip
    oracle = sim.true_policy_value(sim.oracle_policy(mask))
    print(f"one-step: n={n}, true value of the logging policy {sim.logging_policy_value():.3f}, of the masked oracle {oracle:.3f}")
    result = compare(logged, policies, inputs={"guideline": sim.cohort}, oracle_value=oracle, plot_path=out / "one_step.png",
                     true_value=lambda name, p: sim.true_policy_value(p.action_dist(sim.cohort if name == "guideline" else X, mask)),
                     progress=True, random_state=seed)  # fmt: skip
    return result.table


def multi_visit(n: int, seed: int, out: Path) -> pd.DataFrame:
    sim = simulate_cohort(n=n, n_drugs=4, random_state=seed, ecg=False, horizon=4)
    table = sim.cohort.feature_table()
    keep = [not ("snp" in c or c.startswith(("proteomics.P", "genomics.CYP2C19_dip"))) for c in table.columns]
    context = sim.default_context()[:, np.r_[keep, True]]
    mask = RuleSet.default().evaluate(sim.cohort).allowed
    traj = dataclasses.replace(sim.trajectories(context), mask=np.repeat(mask, 4, axis=0))
    rl = dict(n_steps=2000, random_state=seed)
    policies = {
        "clinicians (cloned)": LoggedPolicy(), "uniform": UniformPolicy(4), "CQL": OfflineRLPolicy(algorithm="cql", conservative_weight=0.1, **rl),
        "BCQ": OfflineRLPolicy(algorithm="bcq", **rl), "NFQ (naive)": OfflineRLPolicy(algorithm="nfq", **rl),
    }  # fmt: skip
    oracle_dist = sim.oracle_policy(mask)
    oracle = sim.true_policy_value(lambda frame: oracle_dist)
    print(f"multi-visit: {n} episodes x 4 visits, true value of the logging policy {sim.logging_policy_value():.3f}, "
          f"of the per-visit oracle {oracle:.3f}")  # fmt: skip
    result = compare(traj, policies, oracle_value=oracle, fqe=FQE(n_steps=2000, random_state=seed), plot_path=out / "multi_visit.png",
                     true_value=lambda name, p: sim.true_policy_value(sim.observation_policy(p, context, mask)),
                     progress=True, random_state=seed)  # fmt: skip
    return result.table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench-policies"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    pd.set_option("display.width", 200)
    for label, run, size in (("one_step", one_step, args.n), ("multi_visit", multi_visit, args.episodes)):
        table = run(size, args.seed, args.out)
        table.to_csv(args.out / f"{label}.csv", index=False)
        print(table[COLUMNS].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        learned = table[~table["policy"].isin(["clinicians (cloned)", "uniform", "reference", "guideline"])]
        print(f"mask violations of learned policies: {learned['mask_violations'].max():.3f} (must be 0)\n")


if __name__ == "__main__":
    main()
