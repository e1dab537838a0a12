"""IHDP benchmark: every effect estimator over the 50 replications of IHDP-100.

Each estimator is fitted on the 672 training units of a replication (any tuning, e.g.
the CateSelector's cross-validation or the Gaussian process's marginal likelihood, uses
those units only) and evaluated on them (within-sample) and on the 75 test units
(out-of-sample): sqrt(PEHE) against the noiseless effects mu1 - mu0, and |ATE error|.
Replications run in parallel over the machine's cores.

    .venv/bin/python benchmarks/bench_ihdp.py [--reps 50 | --replications R ...] [--jobs N] [--data PATH] [--csv FILE] [--only NAME ...]
    .venv/bin/python benchmarks/bench_ihdp.py --from-csv FILE ...   # the table of runs saved with --csv

A long run can be split (e.g. --replications 1 ... 25 and 26 ... 50, on two machines, each
with --csv) and its table printed from the saved files with --from-csv. Per-replication
results of measured runs are kept in benchmarks/results/.

Published rows are rough guides only: Shalit et al. (ICML 2017, Table 1) used IHDP-1000
and Shi et al. (2019) their own splits.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from causalrx.data.ihdp import N_REPLICATIONS, load_ihdp
from causalrx.effects import (
    AIPW, DML, IPW, ARDGaussianProcess, AsinhSmearingRegressor, CateSelector, CausalForest, CrossValidatedRegressor, DRLearner,
    MetaLearner, RLearner,
)  # fmt: skip

PUBLISHED = pd.DataFrame(
    [
        ("CFR-Wass (Shalit 2017, IHDP-1000)", 0.71, 0.76, np.nan, np.nan),
        ("TARNet (Shalit 2017, IHDP-1000)", 0.88, 0.95, np.nan, np.nan),
        ("BART (Shalit 2017, IHDP-1000)", 2.1, 2.3, np.nan, np.nan),
        ("Causal forest (Shalit 2017, IHDP-1000)", 3.8, 3.8, np.nan, np.nan),
        ("Dragonnet (Shi 2019)", np.nan, np.nan, 0.14, 0.21),
    ],
    columns=["estimator", "sqrt_pehe_in", "sqrt_pehe_out", "ate_err_in", "ate_err_out"],
)

METRICS = ["sqrt_pehe_in", "sqrt_pehe_out", "ate_err_in", "ate_err_out"]


def estimators(seed: int) -> dict:
    """Fresh, unfitted estimators; the ATE-only ones are marked by their class."""
    gp_t = MetaLearner(kind="T", model=ARDGaussianProcess(random_state=seed), random_state=seed)
    # asinh(y) + smearing with a linear kernel term: the control surface of IHDP is exponential in x
    smeared = AsinhSmearingRegressor(ARDGaussianProcess(linear=True, random_state=seed))
    gp_t_asinh = MetaLearner(kind="T", model=smeared, random_state=seed)
    # per arm, the raw or the asinh GP by exact leave-one-out error
    by_loo = CrossValidatedRegressor({"raw": ARDGaussianProcess(random_state=seed), "asinh": smeared})
    gp_t_loo = MetaLearner(kind="T", model=by_loo, random_state=seed)
    stacked = {"T-GP": gp_t, "T-GP-asinh": gp_t_asinh, "T-boost": MetaLearner(kind="T", random_state=seed),
               "X-boost": MetaLearner(kind="X", random_state=seed), "DR-linear": DRLearner(final="linear", random_state=seed)}  # fmt: skip
    return {
        "T-learner (GP-ARD)": gp_t,
        "T-learner (GP-ARD, asinh + smearing)": gp_t_asinh,
        "T-learner (GP-ARD, raw or asinh by LOO)": gp_t_loo,
        "T-learner (boosting)": MetaLearner(kind="T", random_state=seed),
        "S-learner (boosting)": MetaLearner(kind="S", random_state=seed),
        "X-learner (boosting)": MetaLearner(kind="X", random_state=seed),
        "R-learner (boosting)": RLearner(random_state=seed),
        "DR-learner (linear)": DRLearner(final="linear", random_state=seed),
        "DR-learner (forest)": DRLearner(random_state=seed),
        "Causal forest (DML)": CausalForest(n_estimators=400, n_jobs=1, random_state=seed),
        "Stack (DR-loss CV)": CateSelector(candidates=stacked, mode="stack", random_state=seed),
        # candidates whose held-out DR loss is > 2 SE worse than the best's get no weight
        "Stack (DR-loss CV, screened 2 SE)": CateSelector(candidates=stacked, mode="stack", screen=2.0, random_state=seed),
        # the same, with pseudo-outcomes whose per-arm outcome model is the raw or asinh GP by LOO, not boosting
        "Stack (DR-loss CV, screened 2 SE, GP scorer)": CateSelector(
            candidates=stacked, mode="stack", screen=2.0, pseudo_outcomes=AIPW(model_regression=by_loo, random_state=seed),
            random_state=seed),  # fmt: skip
        "IPW": IPW(random_state=seed),
        "AIPW": AIPW(random_state=seed),
        "DML (DoubleML)": DML(random_state=seed),
    }


def one_replication(rep: int, path, only=None) -> list[dict]:
    warnings.filterwarnings("ignore")
    d = load_ihdp(rep, path)
    tr, te = d.train, d.test
    rows = []
    for name, est in estimators(seed=rep).items():
        if only and name not in only:
            continue
        start = time.perf_counter()
        est.fit(d.x[tr], d.t[tr], d.y[tr])
        ite_in, ite_out = est.effect(d.x[tr]).ite[:, 1], est.effect(d.x[te]).ite[:, 1]
        ate_only = isinstance(est, (IPW, AIPW, DML))
        rows.append({
            "replication": rep, "estimator": name, "ate_only": ate_only,
            "sqrt_pehe_in": np.nan if ate_only else np.sqrt(np.mean((ite_in - d.ite[tr]) ** 2)),
            "sqrt_pehe_out": np.nan if ate_only else np.sqrt(np.mean((ite_out - d.ite[te]) ** 2)),
            "ate_err_in": abs(ite_in.mean() - d.ite[tr].mean()), "ate_err_out": abs(ite_out.mean() - d.ite[te].mean()),
            "seconds": time.perf_counter() - start,
        })  # fmt: skip
    return rows


def summarise(raw: pd.DataFrame) -> pd.DataFrame:
    def mean_se(s):
        s = s.dropna()
        return f"{s.mean():.2f} ± {s.std(ddof=1) / np.sqrt(len(s)):.2f}" if len(s) else "-"

    order = list(dict.fromkeys(raw.estimator))
    table = raw.groupby("estimator", sort=False)[METRICS].agg(mean_se).reindex(order)
    table["fit_s_per_rep"] = raw.groupby("estimator", sort=False).seconds.mean().reindex(order).round(2)
    table["replications"] = raw.groupby("estimator", sort=False).replication.nunique().reindex(order)
    return table.reset_index()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=N_REPLICATIONS)
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--data", default=None, help="IHDP folder (default: $CAUSALRX_IHDP_DIR or ../shared/data/ihdp)")
    parser.add_argument("--replications", type=int, nargs="+", default=None, metavar="R",
                        help=f"run these replications (1-{N_REPLICATIONS}) instead of 1..--reps")
    parser.add_argument("--csv", default=None, help="also write per-replication results here, each as it finishes")
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME", help="run these estimators only (names as in the table)")
    parser.add_argument("--from-csv", nargs="+", default=None, metavar="FILE",
                        help="run nothing: print the table of per-replication results saved with --csv")  # fmt: skip
    args = parser.parse_args()
    if args.from_csv:
        missing = [f for f in args.from_csv if not os.path.isfile(f)]
        if missing:
            parser.error(f"--from-csv: no such file(s) {missing}")
        try:
            raw = pd.concat([pd.read_csv(f) for f in args.from_csv], ignore_index=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            parser.error(f"--from-csv: expected files written with --csv, one could not be read as CSV ({error})")
        absent = sorted({"replication", "estimator", "seconds", *METRICS} - set(raw.columns))
        if absent:
            parser.error(f"--from-csv: column(s) {absent} missing; expected files written with --csv")
        repeated = raw.duplicated(["replication", "estimator"]).sum()
        if repeated:
            print(f"{repeated} repeated (replication, estimator) row(s) in the files: the last one of each is kept")
        raw = raw.drop_duplicates(["replication", "estimator"], keep="last").sort_values(["replication"], kind="stable")
        report(raw, "as saved (see the replications column)", "from " + ", ".join(args.from_csv))
        return
    names = list(estimators(seed=0))
    unknown = sorted(set(args.only or ()) - set(names))
    if unknown:
        parser.error(f"--only: unknown estimator(s) {unknown}; expected names from {names}")
    reps = args.replications or list(range(1, args.reps + 1))
    outside = sorted(r for r in reps if not 1 <= r <= N_REPLICATIONS)
    if outside:
        parser.error(f"--replications: expected numbers in 1-{N_REPLICATIONS}, got {outside}")
    start = time.perf_counter()
    jobs = Parallel(n_jobs=args.jobs, return_as="generator_unordered")(delayed(one_replication)(r, args.data, args.only) for r in reps)
    rows = []
    for result in tqdm(jobs, total=len(reps), desc="IHDP replications"):
        if args.csv:  # as each replication finishes, so a stopped run keeps what it completed
            pd.DataFrame(result).to_csv(args.csv, mode="a" if rows else "w", header=not rows, index=False)
        rows += result
    raw = pd.DataFrame(rows).sort_values(["replication"], kind="stable")
    if args.csv:
        raw.to_csv(args.csv, index=False)
    label = f"1-{args.reps}" if args.replications is None else ", ".join(map(str, reps))
    report(raw, label, f"wall time {time.perf_counter() - start:.0f} s on {args.jobs} worker(s)")


def report(raw: pd.DataFrame, label: str, how: str) -> None:
    print(f"\nIHDP-100, replications {label}, 672 train / 75 test, mean ± standard error over replications")
    print(f"{how}\n")
    print(summarise(raw).to_markdown(index=False))
    print("\nPublished reference rows (rough guides: different replication sets and splits)\n")
    print(PUBLISHED.to_markdown(index=False, floatfmt=".2f"))
    means = raw.groupby("estimator").mean(numeric_only=True)
    counts = raw.groupby("estimator").replication.nunique()
    print()
    for metric, name, target in [("sqrt_pehe_out", "sqrt(PEHE)", 0.70), ("ate_err_out", "|ATE error|", 0.20)]:
        best = means[metric].idxmin()
        verdict = ("met" if means[metric].min() <= target else "NOT met") if counts[best] == N_REPLICATIONS else \
            f"not judged: {counts[best]} of {N_REPLICATIONS} replications"  # fmt: skip
        print(f"best out-of-sample {name}: {best} {means[metric].min():.2f} (target <= {target:.2f}: {verdict})")


if __name__ == "__main__":
    main()
