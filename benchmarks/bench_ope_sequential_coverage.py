"""Bias, RMSE, 95 % interval coverage and width of the sequential estimators on the multi-visit simulator.

Three fixed target policies are evaluated on ``--seeds`` freshly simulated cohorts
(``--episodes`` patients x 4 visits, 4 drugs, logged propensities known, the default safety
rules as the mask): uniform over the allowed drugs, standard care at every visit, and a
greedy learned policy (a depth-3 policy tree on doubly robust scores, fitted once on an
independent training cohort, seed 0, and masked). Estimators: PDIS, WPDIS, sequential DR
and WDR (Q-values cross-fitted by episode with FQE, 2 folds) and FQE itself (its default
interval: the spread of ``--refits`` refits on bootstrap resamples of episodes). Every
interval is 95 %; the per-visit-rollout true value of each policy on each cohort is the
truth. Seeds 1..S; nothing here chooses a setting.

Saved to ``benchmarks/results/ope_sequential_coverage.csv`` (one row per seed, policy and
estimator) and summarised per estimator and policy.

    .venv/bin/python benchmarks/bench_ope_sequential_coverage.py [--seeds 100] [--episodes 800] [--fqe-steps 1000] [--refits 20] [--jobs 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from causalrx.data.simulate import simulate_cohort
from causalrx.ope import Bootstrap
from causalrx.ope.fqe import FQE
from causalrx.ope.sequential import estimate_sequential
from causalrx.parallel import resolve_n_jobs
from causalrx.policy import PolicyTreeLearner, ReferencePolicy, UniformPolicy
from causalrx.safety import RuleSet

warnings.filterwarnings("ignore")
RESULTS = Path(__file__).resolve().parent / "results"
HORIZON = 4


def cohort(seed: int, episodes: int, columns: list[str] | None = None):
    """(simulation, static context, mask, logged trajectories, context columns) as in ``bench_policies.py``'s
    multi-visit part. ``columns`` fixes the context's columns (a category absent from a cohort is a column of
    zeros there), so that a policy fitted on one cohort reads every other."""
    sim = simulate_cohort(n=episodes, n_drugs=4, random_state=seed, ecg=False, horizon=HORIZON)
    table = sim.cohort.feature_table()
    names = [c for c in table.columns if not ("snp" in c or c.startswith(("proteomics.P", "genomics.CYP2C19_dip")))]
    full = pd.DataFrame(sim.default_context(), columns=[*table.columns, "baseline_severity"])
    columns = [*names, "baseline_severity"] if columns is None else columns
    context = full.reindex(columns=columns, fill_value=0.0).to_numpy()
    mask = RuleSet.default().evaluate(sim.cohort).allowed
    traj = dataclasses.replace(sim.trajectories(context), mask=np.repeat(mask, HORIZON, axis=0))
    return sim, context, mask, traj, columns


def target_policies(episodes: int) -> tuple[dict, list[str]]:
    """The fixed targets and the context columns; the learned one is fitted on an independent cohort (seed 0) and
    never refitted."""
    sim, _, _, traj, columns = cohort(0, episodes)
    tree = PolicyTreeLearner(max_depth=3, random_state=0).fit(traj.observations, traj.action, traj.reward, mask=traj.mask,
                                                              n_actions=traj.n_actions)  # fmt: skip
    return {"uniform (allowed drugs)": UniformPolicy(traj.n_actions),
            "standard care": ReferencePolicy(traj.n_actions, reference=sim.cohort.reference_index),
            "policy tree (learned, greedy)": tree}, columns  # fmt: skip


def one_seed(seed: int, episodes: int, policies: dict, columns: list[str], fqe_steps: int, refits: int) -> list[dict]:
    warnings.filterwarnings("ignore")
    sim, context, mask, traj, _ = cohort(seed, episodes, columns)
    rows = []
    for name, policy in policies.items():
        start = time.process_time()
        dist = policy.action_dist(traj.observations, traj.mask)
        truth = sim.true_policy_value(sim.observation_policy(policy, context, mask))
        fqe = FQE(n_steps=fqe_steps, n_refits=refits, random_state=seed, device="cpu")
        results = estimate_sequential(traj, dist, fqe.cross_fit_q_values(traj, dist),
                                      inference=Bootstrap(n_bootstrap=1000, random_state=seed, n_jobs=1))  # fmt: skip
        results.append(fqe.estimate(traj, dist))
        cpu = time.process_time() - start
        for r in results:
            rows.append({"seed": seed, "policy": name, "estimator": r.estimator, "true_value": truth, "value": r.value,
                         "lower": r.lower, "upper": r.upper, "covered": r.lower <= truth <= r.upper,
                         "interval": r.interval, "cpu_seconds_policy": cpu})  # fmt: skip
    return rows


def summary(raw: pd.DataFrame) -> pd.DataFrame:
    raw = raw.assign(error=raw.value - raw.true_value, width=raw.upper - raw.lower)
    return raw.groupby(["estimator", "policy"], sort=False).agg(
        seeds=("seed", "nunique"), bias=("error", "mean"), rmse=("error", lambda e: float(np.sqrt(np.mean(e**2)))),
        coverage=("covered", "mean"), mean_width=("width", "mean"), true_value=("true_value", "mean"),
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--episodes", type=int, default=800)
    parser.add_argument("--fqe-steps", type=int, default=1000)
    parser.add_argument("--refits", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS / "ope_sequential_coverage.csv")
    args = parser.parse_args()
    policies, columns = target_policies(args.episodes)
    work = Parallel(n_jobs=resolve_n_jobs(args.jobs), return_as="generator_unordered")(
        delayed(one_seed)(s, args.episodes, policies, columns, args.fqe_steps, args.refits) for s in range(1, args.seeds + 1))
    rows = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for result in tqdm(work, total=args.seeds, desc="seeds"):
        rows += result
        pd.DataFrame(rows).to_csv(args.out, index=False)  # kept as it grows: an interrupted run keeps its seeds
    raw = pd.DataFrame(rows).sort_values(["estimator", "policy", "seed"])
    raw.to_csv(args.out, index=False)
    pd.set_option("display.width", 220)
    print(f"{args.seeds} seeds x {len(policies)} target policies, {args.episodes} episodes x {HORIZON} visits; FQE {args.fqe_steps} "
          f"steps, {args.refits} refits; 95% intervals")  # fmt: skip
    print(summary(raw).to_markdown(floatfmt=".3f"))
    print(f"\nsaved {args.out}")


if __name__ == "__main__":
    main()
