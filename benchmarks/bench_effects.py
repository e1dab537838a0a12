"""Effect estimators on the multimodal simulator: accuracy against the true effects, and scale.

Part 1 (accuracy): a confounded simulated cohort; covariates are the raw observed feature
table (clinical, PRS and pharmacogene phenotypes, proteomics, modality flags; the raw SNP
dosages left out; missing values median-imputed, with indicators for clinical columns);
outcome: efficacy. Per
estimator and drug: sqrt(PEHE) against the true conditional effect, ATE error against the
true sample ATE, coverage of the true individual effects by the 95% intervals, and
whether the 95% ATE interval covers the true ATE.

Part 2 (scale): n = 100,000 patients, 6 drugs, 50 covariates; fit and effect time, peak
memory and accuracy of the causal forest with a subsampling strategy (and, for
comparison, T- and S-learners).

    .venv/bin/python benchmarks/bench_effects.py [--n 5000] [--n-scale 100000] [--skip-scale]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer

from _measure import measure
from causalrx.data.simulate import simulate_cohort
from causalrx.effects import AIPW, DML, IPW, CausalForest, DRLearner, MetaLearner, RLearner, cohort_inputs

warnings.filterwarnings("ignore")


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


def accuracy(n: int, seed: int) -> pd.DataFrame:
    sim = simulate_cohort(n=n, n_drugs=6, random_state=seed, ecg=False)
    X, action, y, names = covariates(sim.cohort)
    truth = true_effects(sim)
    print(f"accuracy: n = {n}, {len(names)} drugs, {X.shape[1]} covariates (incl. missing indicators)")
    estimators = {
        "DR-learner (linear)": DRLearner(final="linear", random_state=seed),
        "DR-learner (forest)": DRLearner(random_state=seed),
        "Causal forest (DML)": CausalForest(random_state=seed, n_jobs=-1),
        "S-learner": MetaLearner(kind="S", random_state=seed),
        "T-learner": MetaLearner(kind="T", random_state=seed),
        "X-learner": MetaLearner(kind="X", random_state=seed),
        "R-learner": RLearner(random_state=seed),
        "IPW": IPW(random_state=seed),
        "AIPW": AIPW(random_state=seed),
        "DML (DoubleML)": DML(random_state=seed),
    }
    rows = []
    for name, est in estimators.items():
        start = time.perf_counter()
        result = est.fit(X, action, y, action_names=names, reference=names[0]).effect(X)
        seconds = time.perf_counter() - start
        ate_only = isinstance(est, (IPW, AIPW, DML))
        for a in range(1, len(names)):
            covered = (result.lower[:, a] <= truth[:, a]) & (truth[:, a] <= result.upper[:, a])
            rows.append({
                "estimator": name, "drug": names[a],
                "sqrt_pehe": np.nan if ate_only else np.sqrt(np.mean((result.ite[:, a] - truth[:, a]) ** 2)),
                "ate_error": result.ate[a] - truth[:, a].mean(),
                "ite_coverage": np.nan if ate_only or np.isnan(result.lower[:, a]).all() else covered.mean(),
                "ate_covered": bool(result.ate_lower[a] <= truth[:, a].mean() <= result.ate_upper[a])
                if np.isfinite(result.ate_lower[a]) else np.nan,
                "fit_s": seconds,
            })  # fmt: skip
        print(f"  {name}: {seconds:.1f} s")
    return pd.DataFrame(rows)


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5_000)
    parser.add_argument("--n-scale", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    if not args.skip_accuracy:
        raw = accuracy(args.n, args.seed)
        table = raw.groupby("estimator", sort=False).agg(
            sqrt_pehe=("sqrt_pehe", "mean"), worst_drug_sqrt_pehe=("sqrt_pehe", "max"),
            mean_abs_ate_error=("ate_error", lambda s: s.abs().mean()), ite_coverage=("ite_coverage", "mean"),
            ate_coverage=("ate_covered", "mean"), fit_s=("fit_s", "first"),
        )  # fmt: skip
        print("\nPer estimator (mean over the 5 non-reference drugs; outcome efficacy):\n")
        print(table.to_markdown(floatfmt=".3f"))
        print("\nPer drug sqrt(PEHE):\n")
        print(raw.pivot(index="estimator", columns="drug", values="sqrt_pehe").dropna().to_markdown(floatfmt=".3f"))
    if not args.skip_scale:
        print("\n" + scale(args.n_scale, args.seed).to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
