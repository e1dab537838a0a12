"""The recommendation stage of ``causalrx run``: tiers for every patient and drug from
DR-learner estimates of the net benefit under the safety mask, checked against the
simulator's masked oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from causalrx.data.simulate import SimulatedCohort
from causalrx.data.utility import Utility
from causalrx.effects import DRLearner, cohort_inputs, net_benefit
from causalrx.effects.estimate import reference_first
from causalrx.recommend import Recommendations, recommend
from causalrx.report.representation import raw_covariates
from causalrx.safety import RuleSet


def recommend_on_cohort(sim: SimulatedCohort, Z: np.ndarray, folder: Path, *, random_state: int = 0) -> tuple[Recommendations, dict]:
    """Estimate efficacy and adverse-event effects with a DR-learner on covariates ``Z``,
    combine them into the net benefit (the simulator's harm weight), and tier every drug
    under the default rule set. Drivers are read on the raw feature table, so they name
    clinical, genomic and proteomic covariates even when ``Z`` is an embedding. Writes
    ``recommendations.csv``; returns the result and its agreement with the truth."""
    cohort = sim.cohort
    _, action, efficacy, names = cohort_inputs(cohort, "efficacy")
    adverse = cohort.outcome("adverse_event")
    eff = DRLearner(random_state=random_state).fit(Z, action, efficacy, action_names=names).effect()
    adv = DRLearner(random_state=random_state).fit(Z, action, adverse, action_names=names).effect()
    net = net_benefit(eff, adv, Utility(sim.truth.harm_weight))
    mask = RuleSet.default().evaluate(cohort)
    features = cohort.feature_table()
    features = features.loc[:, ~features.columns.str.startswith("genomics.snp")]
    result = recommend(net, mask, raw_covariates(cohort), feature_names=list(features.columns))
    result.table.to_csv(folder / "recommendations.csv", index=False)

    order = reference_first(cohort)  # the effect's drug order
    k = len(names)
    tier = result.table["tier"].to_numpy().reshape(-1, k)
    chosen = (tier == "recommended").argmax(axis=1)
    allowed = mask.allowed[:, order]
    value = sim.truth.expected_reward[:, order]
    best = np.where(allowed, value, -np.inf).max(axis=1)
    rows = np.arange(len(chosen))
    check = {
        "patients": len(chosen),
        "masked_drugs_recommended": int((~allowed[rows, chosen]).sum()),
        "share_recommending_the_masked_oracle_drug": float(np.mean(value[rows, chosen] == best)),
        "mean_true_regret_of_recommended": float(np.mean(best - value[rows, chosen])),
        "mean_true_regret_of_clinicians": float(np.mean(best - value[rows, action])),
        "share_recommending_reference": float(np.mean(chosen == 0)),
    }
    return result, check


def to_markdown(result: Recommendations, check: dict) -> str:
    summary = result.summary()
    r2 = result.surrogate_r2.dropna().round(2)
    example = result.table.groupby("patient_id", sort=False).filter(lambda g: (g["tier"] == "contraindicated").any())
    pid = example["patient_id"].iloc[0] if len(example) else result.table["patient_id"].iloc[0]
    patient = result.for_patient(pid)[["drug", "tier", "rank", "effect", "lower", "upper", "confidence", "reason", "drivers"]]
    return "\n".join([
        "## Recommendations", "",
        f"> {result.disclaimer}", "",
        "Per patient, the best allowed drug by estimated net benefit (DR-learner on efficacy and adverse events) is",
        "*recommended* when its 95% interval lies above zero, else the reference arm; the other allowed drugs are",
        "*alternatives* and masked drugs *contraindicated*, with the rules behind them (`recommendations.csv`).",
        f"Masked drugs recommended: **{check['masked_drugs_recommended']}**. Recommended drug equal to the masked oracle's:",
        f"{check['share_recommending_the_masked_oracle_drug']:.1%} of {check['patients']} patients; mean true regret",
        f"{check['mean_true_regret_of_recommended']:.3f} (clinicians: {check['mean_true_regret_of_clinicians']:.3f});",
        f"reference arm recommended for {check['share_recommending_reference']:.1%}.", "",
        summary.to_markdown(index=False, floatfmt=".3f"), "",
        "Drivers come from a linear surrogate of each drug's estimated effect on the raw covariates; share of the",
        "estimated heterogeneity it explains (R^2): " + ", ".join(f"{d} {v}" for d, v in r2.items()) + ".", "",
        f"Patient {pid}:", "",
        patient.to_markdown(index=False, floatfmt=".3f"), "",
    ])  # fmt: skip
