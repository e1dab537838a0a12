"""Effect estimators on the multimodal simulator: accuracy against the true effects, and scale.

Part 1 (accuracy, ``effects_accuracy.csv``): the default ``causalrx run`` cohort (n = 5,000,
6 drugs, ECG included, seed ``--seed``); outcome efficacy. Covariates are either the
prepared feature table the run uses (``prepared_feature_table``: proteins log2 -> ComBat ->
imputed, the ECG's heart rate and RR variability, no raw SNP dosages) or the run's fusion
embeddings out of fold (3 folds: each patient embedded by an encoder that did not see
them). Every estimator is fitted on 70% of the patients and scored on the other 30%
(out of sample): per drug, sqrt(PEHE) against the true effects, the sqrt(PEHE) of giving
every patient the true average effect (the constant predictor to beat: the spread of the
true effects), the correlation with the true effects and the ATE error, with CPU-seconds.

Part 2 (coverage, ``effects_coverage.csv``): ``--coverage-seeds`` cohorts at the run's
settings; the run's estimator (``DRLearner()``), AIPW and AIPW with the penalised propensity
model (``cross_validated_classifier()``, uncalibrated) fitted on all patients' prepared
features (cohorts simulated without ECG records; ``--coverage-only`` reruns some estimators); per seed and drug, whether the 95% ATE
interval holds the cohort's true average effect. No setting is chosen from these figures.

Part 3 (scale): n = 100,000 patients, 6 drugs, 50 covariates; fit and effect time, peak
memory and accuracy of the causal forest with a subsampling strategy (and, for
comparison, T- and S-learners).

    .venv/bin/python benchmarks/bench_effects.py [--seed 0] [--coverage-seeds 20] [--skip-accuracy] [--skip-coverage] [--skip-scale] [--only NAME ...] [--prepared-only]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.impute import SimpleImputer
from tqdm.auto import tqdm

from _measure import measure
from causalrx.data.simulate import simulate_cohort
from causalrx.effects import (AIPW, CateSelector, CausalForest, DRLearner, MetaLearner, NeuralCATE, PropensityModel, cohort_inputs,
                              cross_validated_classifier)  # fmt: skip
from causalrx.parallel import resolve_n_jobs

warnings.filterwarnings("ignore")
RESULTS = Path(__file__).resolve().parent / "results"


def covariates(cohort, max_columns=None):
    """The observed feature table without the raw SNP dosages (PRS and pharmacogene phenotypes
    stay), median-imputed; missing-value indicators for clinical columns only (a missing
    modality is already flagged by ``has_genomics`` / ``has_proteomics``)."""
    X, action, y, names = cohort_inputs(cohort, "efficacy")
    order = reference_first(cohort)  # the reference arm first, named as such to the estimators
    remap = np.empty(len(order), dtype=int)
    remap[order] = np.arange(len(order))
    action, names = remap[action], tuple(names[j] for j in order)
    X = X.loc[:, ~X.columns.str.startswith("genomics.snp")]
    clinical_missing = [c for c in X.columns if "." not in c and X[c].isna().any()]
    flags = X[clinical_missing].isna().astype(float).add_suffix("_missing")
    imputed = pd.DataFrame(SimpleImputer(strategy="median").fit_transform(X), columns=X.columns)
    X = pd.concat([imputed, flags.reset_index(drop=True)], axis=1)
    if max_columns is not None:
        X = X.iloc[:, :max_columns]
    return X.to_numpy(), action, y, names


def reference_first(cohort) -> list[int]:
    """The cohort's drug positions with its reference arm first: this script's column order (column 0 = reference)."""
    ref = cohort.reference_index
    return [ref] + [j for j in range(cohort.n_actions) if j != ref]


def true_effects(sim) -> np.ndarray:
    """True efficacy effects (n, k) vs the reference arm, drugs in the order of cohort_inputs."""
    order = reference_first(sim.cohort)
    return sim.truth.ite_efficacy[:, order] - sim.truth.ite_efficacy[:, order[:1]]


def run_cohort(seed: int, ecg: bool = True):
    """A cohort at ``causalrx run``'s default settings (RunConfig)."""
    from causalrx.report.run import RunConfig

    config = RunConfig(random_state=seed, ecg=ecg)
    return simulate_cohort(n=config.n, n_drugs=config.n_drugs, random_state=seed, confounding=config.confounding,
                           overlap=config.overlap, hidden_confounding=config.hidden_confounding, horizon=config.horizon,
                           harm_weight=config.harm_weight, ecg=config.ecg)  # fmt: skip


def run_inputs(sim, seed: int, embeddings: bool):
    """Covariate sets of the run (prepared features; fusion embeddings out of fold), action, y, drug names and truth,
    drugs in the cohort's order (its reference arm named)."""
    from causalrx.encoders import get_encoder, out_of_fold_embeddings
    from causalrx.report.representation import prepared_feature_table

    cohort = sim.cohort
    _, action, y, names = cohort_inputs(cohort, "efficacy")
    sets = {"prepared features": prepared_feature_table(cohort, random_state=seed).to_numpy()}
    if embeddings:
        oof = out_of_fold_embeddings(get_encoder("fusion", random_state=seed, target="disease"), cohort, n_folds=3, random_state=seed)
        sets["fusion embedding (out of fold)"] = oof.Z
    truth = sim.truth.ite_efficacy - sim.truth.ite_efficacy[:, [cohort.reference_index]]
    return sets, action, y, names, truth


def accuracy_estimators(seed: int) -> dict:
    return {
        "DR-learner (forest), the run's": DRLearner(random_state=seed),
        "Causal forest (DML)": CausalForest(random_state=seed),
        "T-learner": MetaLearner(kind="T", random_state=seed),
        "CateSelector()": CateSelector(random_state=seed),
        "TARNet x3": NeuralCATE(kind="tarnet", random_state=seed),
        "DragonNet x3": NeuralCATE(kind="dragonnet", random_state=seed),
    }


def accuracy(seed: int, only=None, prepared_only: bool = False) -> pd.DataFrame:
    from sklearn.model_selection import train_test_split

    sim = run_cohort(seed)
    sets, action, y, names, truth = run_inputs(sim, seed, embeddings=not prepared_only)
    ref = sim.cohort.reference_index
    train, test = train_test_split(np.arange(len(y)), test_size=0.3, random_state=seed, stratify=action)
    rows = []
    for label, X in sets.items():
        print(f"accuracy: {label}, {X.shape[1]} columns, {len(train)} training / {len(test)} new patients, {len(names)} drugs")
        for name, est in accuracy_estimators(seed).items():
            if only and name not in only:
                continue
            wall, cpu = time.perf_counter(), time.process_time()
            est.fit(X[train], action[train], y[train], action_names=names, reference=sim.cohort.reference)
            ite = est.point_effect(X[test]) if hasattr(est, "point_effect") else est.effect(X[test]).ite
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            for a in (j for j in range(len(names)) if j != ref):
                t, e = truth[test, a], ite[:, a]
                rows.append({"seed": seed, "covariates": label, "estimator": name, "drug": names[a],
                             "sqrt_pehe": float(np.sqrt(np.mean((e - t) ** 2))), "constant_true_ate_sqrt_pehe": float(t.std()),
                             "correlation": float(np.corrcoef(e, t)[0, 1]) if e.std() > 0 else np.nan,
                             "ate_error": float(e.mean() - t.mean()), "true_effect_sd": float(t.std()),
                             "seconds": wall, "cpu_seconds": cpu})  # fmt: skip
            print(f"  {name}: {wall:.1f} s wall, {cpu:.1f} CPU-s")
    return pd.DataFrame(rows)


def coverage_estimators(seed: int) -> dict:
    return {
        "DR-learner (forest), the run's": DRLearner(n_jobs=1, random_state=seed),
        "AIPW": AIPW(random_state=seed),
        "AIPW, logistic-cv propensity": AIPW(random_state=seed,
                                             propensity_model=PropensityModel(classifier=cross_validated_classifier(), calibration=None)),
    }  # fmt: skip


def coverage_one(seed: int, only=None) -> list[dict]:
    warnings.filterwarnings("ignore")
    sim = run_cohort(seed, ecg=False)  # without ECG records (faster): the ATE needs no heart rate
    sets, action, y, names, truth = run_inputs(sim, seed, embeddings=False)
    X, ref = sets["prepared features"], sim.cohort.reference_index
    rows = []
    for name, est in coverage_estimators(seed).items():
        if only and name not in only:
            continue
        cpu = time.process_time()
        e = est.fit(X, action, y, action_names=names, reference=sim.cohort.reference).effect(X)
        cpu = time.process_time() - cpu
        for a in (j for j in range(len(names)) if j != ref):
            true_ate = float(truth[:, a].mean())
            rows.append({"seed": seed, "estimator": name, "drug": names[a], "true_ate": true_ate, "ate": float(e.ate[a]),
                         "ate_lower": float(e.ate_lower[a]), "ate_upper": float(e.ate_upper[a]),
                         "covered": bool(e.ate_lower[a] <= true_ate <= e.ate_upper[a]), "cpu_seconds": cpu})  # fmt: skip
    return rows


def coverage(seeds: int, jobs, only=None) -> pd.DataFrame:
    work = Parallel(n_jobs=resolve_n_jobs(jobs), return_as="generator_unordered")(delayed(coverage_one)(s, only) for s in range(1, seeds + 1))
    rows = []
    for result in tqdm(work, total=seeds, desc="coverage seeds"):
        rows += result
    return pd.DataFrame(rows).sort_values(["estimator", "seed", "drug"])


def accuracy_tables(raw: pd.DataFrame) -> str:
    raw = raw.assign(beats_constant=raw.sqrt_pehe < raw.constant_true_ate_sqrt_pehe, corr_at_least_half=raw.correlation >= 0.5)
    table = raw.groupby(["covariates", "estimator"], sort=False).agg(
        sqrt_pehe=("sqrt_pehe", "mean"), constant_true_ate=("constant_true_ate_sqrt_pehe", "mean"),
        drugs_beating_constant=("beats_constant", "sum"), min_correlation=("correlation", "min"),
        drugs_corr_ge_half=("corr_at_least_half", "sum"), mean_abs_ate_error=("ate_error", lambda s: s.abs().mean()),
        cpu_s=("cpu_seconds", "first"),
    )  # fmt: skip
    per_drug = raw.pivot_table(index=["covariates", "estimator"], columns="drug", values="sqrt_pehe", sort=False)
    corr = raw.pivot_table(index=["covariates", "estimator"], columns="drug", values="correlation", sort=False)
    const = raw.groupby("drug").constant_true_ate_sqrt_pehe.first().to_frame().T
    return "\n\n".join([
        "Out of sample, mean over the non-reference drugs (outcome efficacy):\n\n" + table.to_markdown(floatfmt=".3f"),
        "Per drug sqrt(PEHE):\n\n" + per_drug.to_markdown(floatfmt=".3f"),
        "Constant true-ATE predictor, per drug sqrt(PEHE) (the spread of the true effects):\n\n" + const.to_markdown(index=False, floatfmt=".3f"),
        "Per drug correlation with the true effects:\n\n" + corr.to_markdown(floatfmt=".2f"),
    ])  # fmt: skip


def coverage_table(raw: pd.DataFrame) -> str:
    table = raw.groupby(["estimator", "drug"], sort=False).agg(seeds=("seed", "nunique"), covered=("covered", "sum"),
                                                              misses=("covered", lambda s: int((~s).sum())),
                                                              mean_width=("ate_upper", "mean"))  # fmt: skip
    table["mean_width"] = raw.assign(w=raw.ate_upper - raw.ate_lower).groupby(["estimator", "drug"], sort=False).w.mean()
    return "95% ATE intervals holding the true average effect, over seeds:\n\n" + table.to_markdown(floatfmt=".3f")


def scale(n: int, seed: int) -> pd.DataFrame:
    """Fit time, memory and accuracy at scale. Strategy for the causal forest: 200 trees on 10%
    subsamples (10,000 patients each at n = 100,000), 3 cross-fitting folds, early-stopped
    boosting nuisances; its accuracy is checked against the true effects here."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    sim = simulate_cohort(n=n, n_drugs=6, random_state=seed, ecg=False)
    X, action, y, names = covariates(sim.cohort, max_columns=50)
    truth = true_effects(sim)
    print(f"\nscale: n = {n}, {len(names)} drugs, {X.shape[1]} covariates")
    rows = []
    for name, make in {
        "Causal forest (DML): 200 trees, 10% subsamples, n_folds=3": lambda: CausalForest(
            n_estimators=200, max_samples=0.1, n_folds=3, n_jobs=-1, random_state=seed,
            model_y=HistGradientBoostingRegressor(max_iter=100, early_stopping=True, random_state=seed),
            model_t=HistGradientBoostingClassifier(max_iter=100, early_stopping=True, random_state=seed)),
        "T-learner": lambda: MetaLearner(kind="T", random_state=seed),
        "S-learner": lambda: MetaLearner(kind="S", random_state=seed),
    }.items():  # fmt: skip
        fitted, wall, peak, before = measure(lambda m=make: m().fit(X, action, y, action_names=names, reference=names[0]))
        result, eff_wall, _, _ = measure(fitted.effect)
        pehe = np.sqrt(np.mean((result.ite[:, 1:] - truth[:, 1:]) ** 2))
        covered = (result.lower[:, 1:] <= truth[:, 1:]) & (truth[:, 1:] <= result.upper[:, 1:])
        rows.append({"estimator": name, "fit_s": wall, "effect_s": eff_wall, "peak_rss_gib": peak / 1024,
                     "rss_before_gib": before / 1024, "sqrt_pehe": pehe,
                     "ite_coverage": covered.mean() if np.isfinite(result.lower[:, 1:]).any() else np.nan})  # fmt: skip
        print(f"  {name}: fit {wall:.1f} s, effect {eff_wall:.1f} s, peak {peak / 1024:.2f} GiB, sqrt(PEHE) {pehe:.3f}")
    return pd.DataFrame(rows)


def replace_saved_rows(path: Path, raw: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """The saved rows of ``path`` (if any) whose ``key`` ``raw`` does not have, followed by ``raw``."""
    if not os.path.isfile(path):
        return raw
    saved = pd.read_csv(path)
    saved = saved[~saved.set_index(key).index.isin(raw.set_index(key).index)]
    return pd.concat([saved, raw], ignore_index=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="the accuracy cohort's seed")
    parser.add_argument("--coverage-seeds", type=int, default=20, help="cohorts of the coverage study (seeds 1..N)")
    parser.add_argument("--jobs", type=int, default=None, help="parallel coverage seeds (default: the CPUs this process may use)")
    parser.add_argument("--n-scale", type=int, default=100_000)
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-coverage", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME",
                        help="accuracy: these estimators only; their rows replace the same rows of the saved results")
    parser.add_argument("--coverage-only", nargs="+", default=None, metavar="NAME",
                        help="coverage: these estimators only (names as in the table); their rows replace the same rows of the saved results")
    parser.add_argument("--prepared-only", action="store_true", help="accuracy: prepared features only (no encoder)")
    parser.add_argument("--from-csv", action="store_true", help="run nothing: print the tables of the saved results")
    args = parser.parse_args()
    acc_csv, cov_csv = RESULTS / "effects_accuracy.csv", RESULTS / "effects_coverage.csv"
    if args.from_csv:
        for path, show in ((acc_csv, accuracy_tables), (cov_csv, coverage_table)):
            print(show(pd.read_csv(path)) if os.path.isfile(path) else f"{path}: not yet measured", end="\n\n")
        return
    if not args.skip_accuracy:
        raw = accuracy(args.seed, args.only, args.prepared_only)
        if args.only or args.prepared_only:
            raw = replace_saved_rows(acc_csv, raw, ["seed", "covariates", "estimator", "drug"])
        raw.to_csv(acc_csv, index=False)
        print("\n" + accuracy_tables(raw) + f"\n\n(saved to {acc_csv})")
    if not args.skip_coverage:
        unknown = set(args.coverage_only or ()) - set(coverage_estimators(0))
        if unknown:
            parser.error(f"--coverage-only: unknown estimator(s) {sorted(unknown)}; expected names among {list(coverage_estimators(0))}")
        raw = coverage(args.coverage_seeds, args.jobs, args.coverage_only)
        if args.coverage_only:
            raw = replace_saved_rows(cov_csv, raw, ["seed", "estimator", "drug"]).sort_values(["estimator", "seed", "drug"])
        raw.to_csv(cov_csv, index=False)
        print("\n" + coverage_table(raw) + f"\n\n(saved to {cov_csv})")
    if not args.skip_scale:
        print("\n" + scale(args.n_scale, 0).to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
