"""Policies on the simulator over several cohorts: true value, share of the clinicians-to-oracle gap closed, OPE with CIs.

One-step part: the baseline-visit cohort (``--n`` patients, 6 drugs); covariates = the raw
feature table (median-imputed, SNP dosages left out). Learners are cross-fitted over two
folds by :func:`causalrx.compare.compare`, so each acts only on patients it never saw;
OPE uses the logged propensities and a cross-fitted reward model. Oracle = the best allowed
drug by the true expected net reward. Every policy acts under the safety mask.

Multi-visit part: ``--episodes`` patients x 4 visits; observation = compact clinical and
pharmacogene context + visit + observed severity + previous drug. Learners: behaviour
cloning and d3rlpy DiscreteCQL / DiscreteBCQ / NFQ, cross-fitted by episode, with one
critic (d3rlpy's single Q-network) and with an ensemble of five (the default); with one
critic, CQL and BCQ twice, with the masked Bellman target (the default) and with the mask
as an input column only (``masked_target=False``; the final choice is masked in both). OPE: PDIS, WPDIS,
sequential DR and WDR (Q cross-fitted by episode) and FQE (refit bootstrap). True values by
rollout of the true dynamics. The reference "oracle" is the one-step oracle applied at every
visit (the drug with the best true immediate net reward, which also lowers future
severity); the true optimum of the episode is not known in closed form, so a share above 1
is possible.

Share of the gap closed = (true value - true value of the logging clinicians) / (oracle - the
same). The settings of the learners (depths, RL steps, CQL weight) were chosen on cohorts 0
and 1 (development); the saved results use other cohorts (``--seeds``, default 11-15).
Rows are saved as each cohort finishes (``--out``, default
``benchmarks/results/policies.csv``); the per-policy summary goes to ``policies_gap.csv``
beside it.

    .venv/bin/python benchmarks/bench_policies.py [--seeds 11 12 13 14 15] [--n 5000] [--episodes 2000] [--parts one_step multi_visit]
    .venv/bin/python benchmarks/bench_policies.py --from-csv benchmarks/results/policies_one_step.csv \
        benchmarks/results/policies_one_step_single_drug.csv   # the saved summaries
    .venv/bin/python benchmarks/bench_policies.py --from-csv benchmarks/results/policies_multi_visit.csv \
        benchmarks/results/policies_multi_visit_critics.csv

The saved results come from one run per part (``--parts one_step --out
benchmarks/results/policies_one_step.csv`` and ``--parts multi_visit --out
benchmarks/results/policies_multi_visit.csv``, before the five-critic policies were
added), and one for those (``--parts multi_visit --only "CQL (5 critics)" "BCQ (5 critics)"
"NFQ (5 critics)" --out benchmarks/results/policies_multi_visit_critics.csv``; cohorts
are independent, so it ran as two processes over 11-13 and 14-15 whose rows were joined),
and one for the best single drug (``--parts one_step --only "best single drug (by DR)"
--out benchmarks/results/policies_one_step_single_drug.csv``).
"""

from __future__ import annotations

import argparse
import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor

from causalrx.compare import compare
from causalrx.data.simulate import simulate_cohort
from causalrx.effects import CausalForest
from causalrx.effects.crossfit import make_folds
from causalrx.ope.fqe import FQE
from causalrx.policy import (
    BestSingleDrugPolicy, DRPolicyLearner, EffectGreedyPolicy, GuidelinePolicy, LoggedPolicy, OfflineRLPolicy, PolicyTreeLearner, ReferencePolicy,
    UniformPolicy,
)  # fmt: skip
from causalrx.report.representation import raw_covariates
from causalrx.safety import RuleSet
from causalrx.safety.scores import masked_greedy

warnings.filterwarnings("ignore")
GUIDELINE = [
    {"id": "diabetes", "when": {"field": "diabetes", "is": True}, "prefer": ["metformin"]},
    {"id": "af", "when": {"field": "atrial_fibrillation", "is": True}, "prefer": ["warfarin", "sotalol"]},
    {"id": "cv-risk", "when": {"field": "hypertension", "is": True}, "prefer": ["simvastatin", "clopidogrel"]},
]
RESULTS = Path(__file__).parent / "results"
CEILING = "ceiling: forest fitted to the true effects (not a learner)"
BASELINES = ["clinicians (cloned)", "uniform", "reference", "guideline", "best single drug (by DR)", CEILING]
SELECTION_ESTIMATOR = {"one_step": "DR", "multi_visit": "WDR"}
COLUMNS = ["policy", "estimator", "value", "lower", "upper", "true_value", "covered", "gap_closed", "mask_violations", "fit_seconds"]


def one_step(n: int, seed: int, plots: Path, args) -> tuple[pd.DataFrame, float, float]:
    sim = simulate_cohort(n=n, n_drugs=6, random_state=seed, ecg=False)
    mask = RuleSet.default().evaluate(sim.cohort).allowed
    X = raw_covariates(sim.cohort)
    logged = sim.bandit_feedback(X, mask=mask)
    names = sim.cohort.action_names
    policies = {
        "clinicians (cloned)": LoggedPolicy(), "uniform": UniformPolicy(len(names)), "reference": ReferencePolicy(len(names), reference=sim.cohort.reference_index),
        "guideline": GuidelinePolicy(GUIDELINE, action_names=names), "effect-greedy (DR forest)": EffectGreedyPolicy(random_state=seed),
        "effect-greedy (causal forest)": EffectGreedyPolicy(CausalForest(random_state=seed)),
        "policy tree (depth 3)": PolicyTreeLearner(max_depth=3, random_state=seed),
        "policy forest": PolicyTreeLearner(forest=True, max_depth=4, random_state=seed), "DR bandit": DRPolicyLearner(random_state=seed),
        "best single drug (by DR)": BestSingleDrugPolicy(random_state=seed),
    }  # fmt: skip
    policies = only(policies, args.only)
    logging, oracle = sim.logging_policy_value(), sim.true_policy_value(sim.oracle_policy(mask))
    print(f"one-step, cohort {seed}: n={n}, true value of the logging clinicians {logging:.3f}, of the masked oracle {oracle:.3f}")
    result = compare(logged, policies, inputs={"guideline": sim.cohort}, oracle_value=oracle, plot_path=plots / f"one_step_{seed}.png",
                     true_value=lambda name, p: sim.true_policy_value(p.action_dist(sim.cohort if name == "guideline" else X, mask)),
                     progress=True, random_state=seed)  # fmt: skip
    ceiling = sim.true_policy_value(covariate_ceiling(X, sim.truth.ite_net, mask, seed))
    row = {"policy": CEILING, "estimator": "none (true effects)", "true_value": ceiling, "regret": oracle - ceiling,
           "mask_violations": 0.0, "fit_seconds": np.nan}  # fmt: skip
    return pd.concat([result.table, pd.DataFrame([row])], ignore_index=True), logging, oracle


def only(policies: dict, names) -> dict:
    """The policies named in ``--only`` (all without it); a name that matches none is an error."""
    if not names:
        return policies
    unknown = sorted(set(names) - set(policies))
    if unknown:
        raise SystemExit(f"--only: no policy named {unknown}; the policies are {list(policies)}")
    return {name: policy for name, policy in policies.items() if name in names}


def covariate_ceiling(X: np.ndarray, true_effects: np.ndarray, mask: np.ndarray, seed: int) -> np.ndarray:
    """Masked greedy choice from a forest fitted, over the same two folds as the learners, to the *true* effects.

    Not a learner (it reads the ground truth): how much of the gap these covariates allow a
    policy to close with noise-free labels and this many patients.
    """
    predicted = np.empty_like(true_effects)
    for train, test in make_folds(len(X), 2, random_state=seed):
        forest = RandomForestRegressor(n_estimators=200, min_samples_leaf=5, max_features=0.5, n_jobs=1, random_state=seed)
        predicted[test] = forest.fit(X[train], true_effects[train]).predict(X[test])
    return masked_greedy(predicted, mask)


def multi_visit(n: int, seed: int, plots: Path, args) -> tuple[pd.DataFrame, float, float]:
    sim = simulate_cohort(n=n, n_drugs=4, random_state=seed, ecg=False, horizon=4)
    table = sim.cohort.feature_table()
    keep = [not ("snp" in c or c.startswith(("proteomics.P", "genomics.CYP2C19_dip"))) for c in table.columns]
    context = sim.default_context()[:, np.r_[keep, True]]
    mask = RuleSet.default().evaluate(sim.cohort).allowed
    traj = dataclasses.replace(sim.trajectories(context), mask=np.repeat(mask, 4, axis=0))
    rl = dict(n_steps=args.rl_steps, random_state=seed)  # one critic unless named: d3rlpy's single Q-network
    policies = {
        "clinicians (cloned)": LoggedPolicy(), "uniform": UniformPolicy(4),
        "CQL (masked target)": OfflineRLPolicy(algorithm="cql", conservative_weight=0.1, n_critics=1, **rl),
        "CQL (mask as input)": OfflineRLPolicy(algorithm="cql", conservative_weight=0.1, masked_target=False, n_critics=1, **rl),
        "BCQ (masked target)": OfflineRLPolicy(algorithm="bcq", n_critics=1, **rl),
        "BCQ (mask as input)": OfflineRLPolicy(algorithm="bcq", masked_target=False, n_critics=1, **rl),
        "NFQ (masked target)": OfflineRLPolicy(algorithm="nfq", n_critics=1, **rl),
        "CQL (5 critics)": OfflineRLPolicy(algorithm="cql", conservative_weight=0.1, n_critics=5, **rl),
        "BCQ (5 critics)": OfflineRLPolicy(algorithm="bcq", n_critics=5, **rl),
        "NFQ (5 critics)": OfflineRLPolicy(algorithm="nfq", n_critics=5, **rl),
    }  # fmt: skip
    policies = only(policies, args.only)
    oracle_dist = sim.oracle_policy(mask)
    logging, oracle = sim.logging_policy_value(), sim.true_policy_value(lambda frame: oracle_dist)
    print(f"multi-visit, cohort {seed}: {n} episodes x 4 visits, true value of the logging clinicians {logging:.3f}, "
          f"of the per-visit oracle {oracle:.3f}")  # fmt: skip
    fqe = FQE(n_steps=args.fqe_steps, n_refits=args.fqe_refits, random_state=seed)
    result = compare(traj, policies, oracle_value=oracle, fqe=fqe, plot_path=plots / f"multi_visit_{seed}.png",
                     true_value=lambda name, p: sim.true_policy_value(sim.observation_policy(p, context, mask)),
                     progress=True, random_state=seed)  # fmt: skip
    return result.table, logging, oracle


def selected(rows: pd.DataFrame) -> pd.DataFrame:
    """Per cohort, the learned policy an analyst would pick without ground truth: the highest DR (one-step) or WDR
    (multi-visit) estimate, or the highest lower 95% bound of it; its true value is what counts."""
    picks = []
    for (part, seed), cohort in rows.groupby(["part", "seed"], sort=False):
        estimator = SELECTION_ESTIMATOR[part]
        learned = cohort[~cohort["policy"].isin(BASELINES) & (cohort["estimator"] == estimator)]
        if learned.empty:  # e.g. a run of baselines only
            continue
        for rule, column in (("estimate", "value"), ("lower bound", "lower")):
            pick = learned.loc[learned[column].idxmax()].copy()
            pick["chosen"] = pick["policy"]
            pick["policy"] = f"selected by the highest {estimator} {rule} (no ground truth)"
            picks.append(pick)
    return pd.DataFrame(picks, columns=[*rows.columns, "chosen"])


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per part and policy: the share of the gap closed and the true value over cohorts."""
    per_policy = pd.concat([rows.drop_duplicates(["part", "seed", "policy"]), selected(rows)], ignore_index=True)
    return per_policy.groupby(["part", "policy"], sort=False).agg(
        cohorts=("seed", "nunique"), gap_closed_mean=("gap_closed", "mean"), gap_closed_sd=("gap_closed", "std"),
        gap_closed_min=("gap_closed", "min"), gap_closed_max=("gap_closed", "max"), true_value=("true_value", "mean"),
        logging_value=("logging_value", "mean"), oracle_value=("oracle_value", "mean"),
        mask_violations_max=("mask_violations", "max"), fit_seconds=("fit_seconds", "mean"),
        chosen=("chosen", lambda c: "; ".join(f"{name} {count}" for name, count in c.value_counts().items())),
    ).reset_index()  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13, 14, 15])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--parts", nargs="+", choices=["one_step", "multi_visit"], default=["one_step", "multi_visit"])
    parser.add_argument("--rl-steps", type=int, default=2000)
    parser.add_argument("--fqe-steps", type=int, default=1000)
    parser.add_argument("--fqe-refits", type=int, default=10)
    parser.add_argument("--out", type=Path, default=RESULTS / "policies.csv")
    parser.add_argument("--plots", type=Path, default=Path("bench-policies"))
    parser.add_argument("--only", nargs="+", help="run only these policies (e.g. to add policies to a saved run)")
    parser.add_argument("--from-csv", type=Path, nargs="+",
                        help="print the summary of saved rows (several files: their rows together) instead of running; "
                             "saved beside the first file")  # fmt: skip
    args = parser.parse_args()
    if args.from_csv is not None:
        return report(pd.concat([pd.read_csv(f) for f in args.from_csv], ignore_index=True), args.from_csv[0])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.plots.mkdir(parents=True, exist_ok=True)
    runs = {"one_step": (one_step, args.n), "multi_visit": (multi_visit, args.episodes)}
    frames = []
    for seed in args.seeds:
        for part in args.parts:
            run, size = runs[part]
            table, logging, oracle = run(size, seed, args.plots, args)
            table = table.assign(part=part, seed=seed, size=size, logging_value=logging, oracle_value=oracle,
                                 gap_closed=(table["true_value"] - logging) / (oracle - logging))  # fmt: skip
            print(table[COLUMNS].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
            frames.append(table)
            pd.concat(frames, ignore_index=True).to_csv(args.out, index=False)  # kept as it grows
    report(pd.concat(frames, ignore_index=True), args.out)


def report(rows: pd.DataFrame, out: Path) -> None:
    gap, gap_path = summary(rows), out.with_name(out.stem + "_gap.csv")
    gap.to_csv(gap_path, index=False)
    pd.set_option("display.width", 220)
    print(f"\nshare of the clinicians-to-oracle gap closed (true values), cohorts {sorted(rows['seed'].unique().tolist())}:")
    print(gap.drop(columns=["logging_value", "oracle_value"]).to_markdown(index=False, floatfmt=".3f"))
    learned = rows[~rows["policy"].isin(BASELINES)]
    print(f"mask violations of learned policies: {learned['mask_violations'].max():.3f} (must be 0)")
    print(f"saved {out} and {gap_path}")


if __name__ == "__main__":
    main()
