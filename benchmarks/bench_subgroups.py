"""Coverage of subgroup effects (GATEs) on simulated cohorts: pointwise and simultaneous intervals.

For each seed a cohort is simulated (confounded clinicians, 6 drugs), cross-fitted AIPW
scores of every drug versus standard care are computed on the prepared covariates
(propensities estimated, not the logged truth), and the efficacy GATE of every drug is
estimated in every subgroup of sex, age band (< 65, 65+) and centre, with pointwise 95%
intervals and simultaneous ones over the whole table (max-t multiplier bootstrap,
:mod:`causalrx.effects.subgroups`). The truth is each subgroup's mean of the simulator's
per-patient effects. Seeds 0-19 were used while writing the method (development); the
figures reported are those of seeds 100 onwards, printed apart.

Every interval of every seed goes to ``benchmarks/results/subgroup_coverage.csv``.

    .venv/bin/python benchmarks/bench_subgroups.py [--seeds 100] [--n 2000] [--jobs 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from causalrx.data.simulate import simulate_cohort
from causalrx.effects import AIPW, cohort_inputs
from causalrx.effects.subgroups import group_effects
from causalrx.execution import run_tasks
from causalrx.report.representation import prepared_feature_table

RESULTS = Path(__file__).resolve().parent / "results"


def one_seed(seed: int, n: int) -> pd.DataFrame:
    """Every (grouping, subgroup, drug) row of one simulated cohort, with the truth."""
    with threadpool_limits(1):  # one process per CPU: no nested pools
        sim = simulate_cohort(n=n, n_drugs=6, random_state=seed, ecg=False)
        cohort = sim.cohort
        _, action, y, names = cohort_inputs(cohort, "efficacy")
        X = prepared_feature_table(cohort, seed).to_numpy()
        psi = AIPW(n_folds=3, random_state=seed).pseudo_outcomes(X, action, y, action_names=names, reference=cohort.reference)[0]
        ref = cohort.reference_index
        drugs = [d for j, d in enumerate(names) if j != ref]
        truth = np.delete(sim.truth.ite_efficacy - sim.truth.ite_efficacy[:, [ref]], ref, axis=1)
        clinical = cohort.clinical.set_index("patient_id").reindex(cohort.patient_ids)
        groups = pd.DataFrame({"sex": clinical["sex"].to_numpy(), "age band": np.where(clinical["age"] >= 65, "65+", "<65"),
                               "centre": clinical["centre"].to_numpy()})  # fmt: skip
        table = group_effects(psi[:, 1:], groups, drugs=drugs, truth=truth, n_bootstrap=1000, random_state=seed)
    return table.assign(seed=seed, n=n, critical_value=table.attrs["critical_value"])


def summarise(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per seed: do all intervals cover together; per drug: bias, spread of the error against the mean standard error."""
    per_seed = rows.groupby("seed").agg(intervals=("gate", "size"), all_joint_covered=("joint_covered", "all"),
                                        all_pointwise_covered=("covered", "all"), pointwise_coverage=("covered", "mean"),
                                        critical_value=("critical_value", "first"))  # fmt: skip
    overall = per_seed.mean().to_frame().T.assign(seeds=len(per_seed))
    err = rows.assign(error=rows["gate"] - rows["true_gate"], width=rows["upper"] - rows["lower"],
                      joint_width=rows["joint_upper"] - rows["joint_lower"])  # fmt: skip
    by_drug = err.groupby("drug").agg(bias=("error", "mean"), error_sd=("error", "std"), mean_se=("se", "mean"),
                                      pointwise_coverage=("covered", "mean"), joint_coverage=("joint_covered", "mean"),
                                      mean_width=("width", "mean"), mean_joint_width=("joint_width", "mean"))  # fmt: skip
    by_drug["sd_over_se"] = by_drug["error_sd"] / by_drug["mean_se"]
    return overall, by_drug


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=100, help="reported seeds (100 onwards)")
    parser.add_argument("--development", type=int, default=20, help="development seeds (0 onwards), printed apart")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--backend", default=None, choices=["serial", "joblib", "ray"], help="default: $CAUSALRX_BACKEND, else joblib")
    parser.add_argument("--address", default=None, help="Ray cluster address with --backend ray, e.g. auto")
    parser.add_argument("--out", type=Path, default=RESULTS / "subgroup_coverage.csv")
    args = parser.parse_args()
    start = time.perf_counter()
    seeds = [*range(args.development), *range(100, 100 + args.seeds)]
    rows = pd.concat(run_tasks(one_seed, [(f"seed {s}", {"seed": s, "n": args.n}) for s in seeds], backend=args.backend, address=args.address,
                               n_jobs=args.jobs, progress=True, desc="seeds"), ignore_index=True)  # fmt: skip
    rows["split"] = np.where(rows["seed"] < 100, "development", "reported")
    args.out.parent.mkdir(exist_ok=True)
    rows.to_csv(args.out, index=False, float_format="%.6g")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        for split, part in rows.groupby("split"):
            overall, by_drug = summarise(part)
            print(f"\n{split}: {part['seed'].nunique()} seeds, n = {args.n}, {len(part) // part['seed'].nunique()} intervals per seed "
                  "(5 drugs x subgroups of sex, age band, centre)")  # fmt: skip
            print(overall.round(3).to_string(index=False))
            print(by_drug.round(3).to_string())
    print(f"wall time {time.perf_counter() - start:.0f} s; per-seed rows in {args.out}")


if __name__ == "__main__":
    main()
