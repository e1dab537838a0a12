"""IHDP benchmark: every effect estimator over IHDP-100, development and evaluation replications apart.

Each estimator is fitted on the 672 training units of a replication (any tuning, e.g.
a CateSelector's cross-validation or a Gaussian process's marginal likelihood, uses those
units only) and evaluated on them (within-sample) and on the 75 test units (out-of-sample):
sqrt(PEHE) against the noiseless effects mu1 - mu0, and |ATE error|, with the CPU-seconds
of the fit and prediction. Replications run in parallel over the CPUs this process may use.

The protocol keeps ground truth out of every choice:

- every estimator is reported; none is called "best" by its error against the truth;
- the estimator put forward is chosen per replication without ground truth: a
  ``CateSelector`` keeps the candidate with the smallest held-out doubly robust loss on
  the training units ("Selected by held-out DR loss");
- configuration decisions (which defaults, which candidates, which scorer) are made on
  replications 1-25 (development); the figures on 26-50 (evaluation) are the ones to
  quote. Both are printed, apart.

    .venv/bin/python benchmarks/bench_ihdp.py [--set defaults|neural|frontier] [--replications R ...] [--jobs N] [--csv FILE]
                                              [--backend serial|joblib|ray] [--address auto|ray://head:10001]
    .venv/bin/python benchmarks/bench_ihdp.py --from-csv FILE ...   # the tables of runs saved with --csv

Per-replication results of measured runs are kept in benchmarks/results/.

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

from causalrx.data.ihdp import N_REPLICATIONS, load_ihdp
from causalrx.effects import (
    AIPW,
    DML,
    IPW,
    ARDGaussianProcess,
    AsinhSmearingRegressor,
    CateSelector,
    CausalForest,
    CrossValidatedRegressor,
    DRLearner,
    MetaLearner,
    NeuralCATE,
    RLearner,
)  # fmt: skip
from causalrx.execution import run_tasks
from causalrx.parallel import resolve_n_jobs

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
DEVELOPMENT, EVALUATION = range(1, 26), range(26, 51)
SELECTED = "Selected by held-out DR loss"


def estimators(seed: int, which: str = "defaults") -> dict:
    """Fresh, unfitted estimators of one set; the ATE-only ones are marked by their class.

    ``defaults``: every learner as a user gets it, the default ``CateSelector()`` and the
    selection by held-out DR loss among the default learners. ``neural``: TARNet, CFR and
    DragonNet ensembles on the CPU. ``frontier``: the Gaussian process configurations
    (slow: minutes per replication).
    """
    if which == "defaults":
        pool = {"T-learner": MetaLearner(kind="T", random_state=seed), "X-learner": MetaLearner(kind="X", random_state=seed),
                "DR-learner (linear)": DRLearner(final="linear", random_state=seed),
                "DR-learner (forest)": DRLearner(n_jobs=1, random_state=seed),
                "Causal forest (DML)": CausalForest(n_jobs=1, random_state=seed)}  # fmt: skip
        return {
            "T-learner": pool["T-learner"], "S-learner": MetaLearner(kind="S", random_state=seed), "X-learner": pool["X-learner"],
            "R-learner": RLearner(random_state=seed), "DR-learner (linear)": pool["DR-learner (linear)"],
            "DR-learner (forest)": pool["DR-learner (forest)"], "Causal forest (DML)": pool["Causal forest (DML)"],
            "CateSelector() (default stack)": CateSelector(random_state=seed),
            # the pool: the default learners with the best development (1-25) figures; the X- and
            # linear DR-learners add cost (over 60 CPU-seconds per replication) without a better candidate there
            SELECTED: CateSelector(candidates={k: pool[k] for k in ("T-learner", "DR-learner (forest)", "Causal forest (DML)")},
                                   mode="best", random_state=seed),
            "IPW": IPW(random_state=seed), "AIPW": AIPW(random_state=seed), "DML (DoubleML)": DML(random_state=seed),
        }  # fmt: skip
    if which == "neural":  # torch threads: one per replication worker, so pools never nest
        import torch

        torch.set_num_threads(1)
        train = {"device": "cpu"}
        return {"TARNet x3": NeuralCATE(kind="tarnet", train=train, random_state=seed),
                "CFR-MMD x3": NeuralCATE(kind="cfr", ipm="mmd", train=train, random_state=seed),
                "DragonNet x3": NeuralCATE(kind="dragonnet", train=train, random_state=seed)}  # fmt: skip
    if which != "frontier":
        raise ValueError(f"unknown estimator set {which!r}")
    gp_t = MetaLearner(kind="T", model=ARDGaussianProcess(random_state=seed), random_state=seed)
    # asinh(y) + smearing with a linear kernel term, for outcome surfaces that grow exponentially
    smeared = AsinhSmearingRegressor(ARDGaussianProcess(linear=True, random_state=seed))
    gp_t_asinh = MetaLearner(kind="T", model=smeared, random_state=seed)
    # per arm, the raw or the asinh GP by exact leave-one-out error
    by_loo = CrossValidatedRegressor({"raw": ARDGaussianProcess(random_state=seed), "asinh": smeared})
    gp_t_loo = MetaLearner(kind="T", model=by_loo, random_state=seed)
    return {
        "T-learner (GP-ARD)": gp_t,
        "T-learner (GP-ARD, asinh + smearing)": gp_t_asinh,
        "T-learner (GP-ARD, raw or asinh by LOO)": gp_t_loo,
        SELECTED + " (GP candidates)": CateSelector(candidates={"T-GP": gp_t, "T-GP-asinh": gp_t_asinh, "T-GP-LOO": gp_t_loo,
                                                                "T-default": MetaLearner(kind="T", random_state=seed)},
                                                    mode="best", random_state=seed),  # fmt: skip
    }


def _point(est, X) -> np.ndarray:
    """The effect of treatment, without paying for intervals where the estimator can skip them."""
    return (est.effect(X, interval=False) if hasattr(est, "point_effect") else est.effect(X)).ite[:, 1]


def one_replication(rep: int, data, which: str, only=None) -> list[dict]:
    """Every estimator on one replication; ``data`` is the loaded replication (shipped to the worker, so a
    cluster's workers need no copy of the IHDP files)."""
    warnings.filterwarnings("ignore")
    d = data
    tr, te = d.train, d.test
    rows = []
    for name, est in estimators(seed=rep, which=which).items():
        if only and name not in only:
            continue
        wall, cpu = time.perf_counter(), time.process_time()
        est.fit(d.x[tr], d.t[tr], d.y[tr])
        ite_in, ite_out = (_point(est, d.x[part]) for part in (tr, te))
        ate_only = isinstance(est, (IPW, AIPW, DML))
        chosen = est.scores_.candidate.iloc[0] if isinstance(est, CateSelector) and est.mode == "best" else ""
        rows.append({
            "replication": rep, "estimator": name, "ate_only": ate_only, "chosen": chosen,
            "sqrt_pehe_in": np.nan if ate_only else np.sqrt(np.mean((ite_in - d.ite[tr]) ** 2)),
            "sqrt_pehe_out": np.nan if ate_only else np.sqrt(np.mean((ite_out - d.ite[te]) ** 2)),
            "ate_err_in": abs(ite_in.mean() - d.ite[tr].mean()), "ate_err_out": abs(ite_out.mean() - d.ite[te].mean()),
            "seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu,
        })  # fmt: skip
    return rows


def summarise(raw: pd.DataFrame) -> pd.DataFrame:
    def mean_se(s):
        s = s.dropna()
        return f"{s.mean():.2f} ± {s.std(ddof=1) / np.sqrt(len(s)):.2f}" if len(s) > 1 else (f"{s.mean():.2f}" if len(s) else "-")

    order = list(dict.fromkeys(raw.estimator))
    grouped = raw.groupby("estimator", sort=False)
    table = grouped[METRICS].agg(mean_se).reindex(order)
    table["max_sqrt_pehe_out"] = grouped.sqrt_pehe_out.max().reindex(order).round(2)
    table["reps_above_3"] = grouped.sqrt_pehe_out.apply(lambda s: int((s > 3).sum()) if s.notna().any() else np.nan).reindex(order)
    cpu = "cpu_seconds" if "cpu_seconds" in raw.columns else "seconds"
    table["cpu_s_per_rep"] = grouped[cpu].mean().reindex(order).round(1)
    table["replications"] = grouped.replication.nunique().reindex(order)
    return table.reset_index()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="defaults", choices=["defaults", "neural", "frontier"], help="which estimators (see estimators())")
    parser.add_argument("--jobs", type=int, default=None, help="parallel replications (default: the CPUs this process may use)")
    parser.add_argument("--backend", default=None, choices=["serial", "joblib", "ray"],
                        help="where replications run (default: $CAUSALRX_BACKEND, else joblib); see causalrx.execution")
    parser.add_argument("--address", default=None, help="Ray cluster address, e.g. auto or ray://head:10001 (with --backend ray)")
    parser.add_argument("--data", default=None, help="IHDP folder (default: $CAUSALRX_IHDP_DIR or ../shared/data/ihdp)")
    parser.add_argument("--replications", type=int, nargs="+", default=None, metavar="R",
                        help=f"run these replications (1-{N_REPLICATIONS}) instead of all")
    parser.add_argument("--csv", default=None, help="also write per-replication results here, each as it finishes")
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME", help="run these estimators only (names as in the table)")
    parser.add_argument("--from-csv", nargs="+", default=None, metavar="FILE",
                        help="run nothing: print the tables of per-replication results saved with --csv")  # fmt: skip
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
        report(raw, "from " + ", ".join(args.from_csv))
        return
    names = list(estimators(seed=0, which=args.set))
    unknown = sorted(set(args.only or ()) - set(names))
    if unknown:
        parser.error(f"--only: unknown estimator(s) {unknown}; expected names from {names}")
    reps = args.replications or list(range(1, N_REPLICATIONS + 1))
    outside = sorted(r for r in reps if not 1 <= r <= N_REPLICATIONS)
    if outside:
        parser.error(f"--replications: expected numbers in 1-{N_REPLICATIONS}, got {outside}")
    jobs = resolve_n_jobs(args.jobs)
    start = time.perf_counter()
    rows = []

    def keep(_key, result):  # as each replication finishes, so a stopped run keeps what it completed
        if args.csv:
            pd.DataFrame(result).to_csv(args.csv, mode="a" if rows else "w", header=not rows, index=False)
        rows.extend(result)

    tasks = [(f"replication {r}", {"rep": r, "data": load_ihdp(r, args.data), "which": args.set, "only": args.only}) for r in reps]
    run_tasks(one_replication, tasks, backend=args.backend, address=args.address, n_jobs=jobs, progress=True, desc="IHDP replications",
              on_result=keep)  # fmt: skip
    raw = pd.DataFrame(rows).sort_values(["replication"], kind="stable")
    if args.csv:
        raw.to_csv(args.csv, index=False)
    report(raw, f"wall time {time.perf_counter() - start:.0f} s on {jobs} worker(s), backend {args.backend or 'joblib'}")


def report(raw: pd.DataFrame, how: str) -> None:
    print(f"\nIHDP-100, 672 train / 75 test, mean ± standard error over replications; {how}")
    for label, reps in (("development, replications 1-25: configuration decisions are made here", DEVELOPMENT),
                        ("evaluation, replications 26-50: the figures to quote", EVALUATION)):  # fmt: skip
        part = raw[raw.replication.isin(reps)]
        if part.empty:
            continue
        print(f"\n### {label} ({part.replication.nunique()} of {len(reps)} run)\n")
        print(summarise(part).to_markdown(index=False))
        picked = part[part.estimator.str.startswith(SELECTED) & (part.chosen.fillna("") != "")] if "chosen" in part else part.iloc[:0]
        if len(picked):
            counts = picked.groupby("estimator").chosen.value_counts().rename("replications").reset_index()
            print("\nChosen without ground truth (held-out DR loss on the training units):\n")
            print(counts.to_markdown(index=False))
    print("\nPublished reference rows (rough guides: different replication sets and splits)\n")
    print(PUBLISHED.to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
