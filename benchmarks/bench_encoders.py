"""Encoders on the multimodal simulator: risk metrics per modality and fused, effect
estimation on embeddings, and training throughput.

Part 1 (risk): the drug-independent ``disease`` label; each single-modality encoder and
the fused encoders (concatenation, cross-attention) are fitted on 70% of the patients and
scored on the other 30%: AUROC, AUPRC, Brier, ECE with 95% stratified-bootstrap CIs, and
DeLong p-values of fused vs the best single modality. The oracle row uses the true risk.

Part 2 (effects): sqrt(PEHE) of the efficacy effect (DR-learner)
(forest final stage) with covariates = the raw feature table (as in bench_effects), the passthrough encoder,
the out-of-fold fused embedding (3 folds, aligned), and passthrough + fused embedding.
The passthrough encoder learns no label, so it is fitted once on all patients.

Part 3 (throughput): training samples per second of each encoder on this machine's
device (CPU unless CUDA is available).

    .venv/bin/python benchmarks/bench_encoders.py [--n 20000] [--seed 0] [--out bench-encoders] [--skip-effects | --effects-only]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from _measure import measure
from bench_effects import covariates, true_effects
from causalrx.data.simulate import simulate_cohort
from causalrx.effects import DRLearner, cohort_inputs
from causalrx.encoders import NeuralEncoder, PassthroughEncoder, out_of_fold_embeddings, train_test_ids
from causalrx.encoders.inputs import row_positions
from causalrx.encoders.training import resolve_device
from causalrx.risk import delong_test, evaluate_risk, plot_calibration

warnings.filterwarnings("ignore")

ENCODERS = {
    "clinical": dict(modalities=("clinical",)),
    "genomics": dict(modalities=("genomics",)),
    "proteomics": dict(modalities=("proteomics",)),
    "ecg": dict(modalities=("ecg",)),
    "fused (concat)": dict(fusion="concat"),
    "fused (attention)": dict(fusion="attention"),
}


def risk_part(sim, seed: int, out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    cohort = sim.cohort
    train, test = train_test_ids(cohort, 0.3, seed)
    pos = row_positions(cohort, test)
    y = cohort.outcome("disease")[pos]
    reports, preds, speed = [], {}, []
    for name, params in ENCODERS.items():
        enc, wall, peak, _ = measure(lambda: NeuralEncoder(random_state=seed, train={"batch_size": 512}, **params).fit(cohort, train))
        preds[name] = enc.predict_risk(cohort, test)[0]
        reports.append(evaluate_risk(y, preds[name], name=name, threshold=0.3, n_bootstrap=300, random_state=seed))
        epochs = sum(len(h["val_loss"]) for h in enc.history_)
        speed.append({"encoder": name, "device": enc.history_[0]["device"], "samples_per_s": enc.samples_per_second,
                      "epochs": epochs, "fit_s": wall, "peak_rss_gib": peak / 1024})  # fmt: skip
        print(f"  {name}: {wall:.0f} s, {enc.samples_per_second:,.0f} samples/s, {epochs} epochs, AUROC {reports[-1].value('auroc'):.3f}")
    reports.append(evaluate_risk(y, sim.truth.disease_prob[pos], name="oracle (true risk)", threshold=0.3, n_bootstrap=300, random_state=seed))
    plot_calibration(reports).savefig(out / "calibration.png", dpi=120)
    table = pd.concat([r.to_frame() for r in reports])
    single = max(("clinical", "genomics", "proteomics", "ecg"), key=lambda m: reports[list(ENCODERS).index(m)].value("auroc"))
    for fused in ("fused (concat)", "fused (attention)"):
        d = delong_test(y, preds[fused], preds[single])
        print(f"  DeLong {fused} vs best single ({single}): difference {d.difference:+.3f}, p = {d.p_value:.2g}")
    return table, pd.DataFrame(speed)


def effects_part(sim, seed: int) -> pd.DataFrame:
    cohort = sim.cohort
    X_raw, action, y, names = covariates(cohort)
    truth = true_effects(sim)
    start = time.perf_counter()
    # the passthrough encoder learns no label (only means, SDs and levels), so one fit on all patients leaks no outcome
    passthrough = PassthroughEncoder().fit(cohort, cohort.patient_ids).transform(cohort)
    fused = out_of_fold_embeddings(NeuralEncoder(random_state=seed, train={"batch_size": 512}), cohort, n_folds=3, random_state=seed, progress=True).Z
    print(f"  out-of-fold embeddings: {time.perf_counter() - start:.0f} s")
    designs = {"raw features": X_raw, "passthrough": passthrough, "fused embedding (OOF)": fused, "passthrough + fused": np.hstack([passthrough, fused])}
    rows = []
    for name, X in designs.items():
        est = DRLearner(random_state=seed).fit(X, action, y, action_names=names, reference=names[0]).effect(X)
        pehe = np.sqrt(np.mean((est.ite[:, 1:] - truth[:, 1:]) ** 2, axis=0))
        rows.append({"covariates": name, "columns": X.shape[1], "sqrt_pehe_mean": pehe.mean(),
                     **{f"sqrt_pehe[{names[a]}]": pehe[a - 1] for a in range(1, len(names))}})  # fmt: skip
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench-encoders"))
    parser.add_argument("--skip-effects", action="store_true")
    parser.add_argument("--effects-only", action="store_true", help="run part 2 (PEHE) only")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    pd.set_option("display.width", 200, "display.max_columns", 20)
    print(f"device: {resolve_device('auto')}; n = {args.n}")
    sim = simulate_cohort(n=args.n, n_drugs=6, random_state=args.seed, progress=True)
    if not args.effects_only:
        print("\nrisk of the disease label, held-out 30%:")
        table, speed = risk_part(sim, args.seed, args.out)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print("\ntraining throughput:")
        print(speed.to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
        print(f"calibration plot: {args.out / 'calibration.png'}")
    if not args.skip_effects:
        print("\neffect estimation (efficacy, DR-learner with forest final stage), sqrt(PEHE) by covariates:")
        print(effects_part(sim, args.seed).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
