"""The recommendation stage of ``causalrx run``: tiers for every patient and drug from
DR-learner estimates of the net benefit under the safety mask, checked against the
simulator's masked oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from causalrx.data.simulate import SimulatedCohort
from causalrx.data.utility import Utility
from causalrx.data.problem import DecisionProblem
from causalrx.effects import DRLearner, net_benefit
from causalrx.recommend import Recommendations, recommend
from causalrx.report.representation import raw_feature_table
from causalrx.safety import RuleSet


def recommend_on_cohort(sim: SimulatedCohort, Z: np.ndarray, folder: Path, *, random_state: int = 0,
                        progress: bool = False) -> tuple[Recommendations, pd.DataFrame]:  # fmt: skip
    """Estimate efficacy and adverse-event effects with a DR-learner on covariates ``Z``,
    combine them into the net benefit (the simulator's harm weight), and tier every drug
    under the default rule set. Drivers are read on the raw feature table, so they name
    clinical, genomic and proteomic covariates even when ``Z`` is an embedding. Writes
    ``recommendations.csv`` (default mode); returns that result and, per mode (best point
    estimate, and ``require_benefit=True``), its agreement with the truth."""
    from tqdm.auto import tqdm

    cohort = sim.cohort
    embedding = pd.DataFrame(np.asarray(Z, dtype=float), index=pd.Index(cohort.patient_ids, name="patient_id"))
    problem = DecisionProblem.from_cohort(cohort, embedding, reward="efficacy", mask=RuleSet.default())
    steps = tqdm(total=3, desc="recommendations", disable=not progress)
    effects = []
    for outcome in ("efficacy", "adverse_event"):  # the problem lists patients in the cohort's order
        effects.append(DRLearner(random_state=random_state).fit(problem, y=cohort.outcome(outcome)).effect(problem))
        steps.update()
    net = net_benefit(*effects, Utility(sim.truth.harm_weight))
    result = recommend(net, problem, raw_feature_table(cohort))  # drivers read on the raw features, indexed by patient id
    strict = recommend(net, problem, require_benefit=True, n_drivers=0)
    steps.update()
    steps.close()
    result.table.to_csv(folder / "recommendations.csv", index=False)

    names, ref = problem.drugs, problem.reference_index  # the problem's (the cohort's) drug order
    allowed, value = problem.allowed, sim.truth.expected_reward
    best = np.where(allowed, value, -np.inf).max(axis=1)
    rows = np.arange(len(best))

    def against_truth(mode: str, chosen: np.ndarray) -> dict:
        return {"mode": mode, "masked_drugs_recommended": int((~allowed[rows, chosen]).sum()),
                "share_equal_to_masked_oracle": float(np.mean(value[rows, chosen] == best)),
                "mean_true_regret": float(np.mean(best - value[rows, chosen])),
                "share_reference_recommended": float(np.mean(chosen == ref))}  # fmt: skip

    def chosen(rec: Recommendations) -> np.ndarray:
        table = rec.table[rec.table["tier"] == "recommended"].set_index("patient_id")["drug"]
        return pd.Index(names).get_indexer(table.reindex(problem.patient_ids).to_numpy())

    checks = [against_truth(mode, chosen(rec)) for mode, rec in (("best point estimate (default)", result),
                                                                 ("require_benefit=True", strict))]  # fmt: skip
    checks.append(against_truth("clinicians (logged)", problem.action))
    return result, pd.DataFrame(checks)


def to_markdown(result: Recommendations, checks: pd.DataFrame) -> str:
    summary = result.summary()
    r2 = result.surrogate_r2.dropna().round(2)
    example = result.table.groupby("patient_id", sort=False).filter(lambda g: (g["tier"] == "contraindicated").any())
    pid = example["patient_id"].iloc[0] if len(example) else result.table["patient_id"].iloc[0]
    patient = result.for_patient(pid)[["drug", "tier", "rank", "effect", "lower", "upper", "confidence", "reason", "drivers"]]
    return "\n".join([
        "## Recommendations", "",
        f"> {result.disclaimer}", "",
        "Per patient, the allowed drug with the best estimated net benefit (DR-learner on efficacy and adverse",
        "events, combined by the utility) is *recommended*, the other allowed drugs are *alternatives* and masked",
        "drugs *contraindicated*, with the rules behind them (`recommendations.csv`). The conservative mode",
        "(`require_benefit=True`) recommends a drug over the reference arm only when its 95% interval lies above",
        "zero. Against the simulator's truth (regret: true net benefit of the masked oracle's drug minus that of",
        "the recommended one; the clinicians' row may include masked drugs they prescribed):", "",
        checks.to_markdown(index=False, floatfmt=".3f"), "",
        summary.to_markdown(index=False, floatfmt=".3f"), "",
        "Drivers come from a linear surrogate of each drug's estimated effect on the raw covariates; share of the",
        "estimated heterogeneity it explains (R^2): " + ", ".join(f"{d} {v}" for d, v in r2.items()) + ".", "",
        f"Patient {pid}:", "",
        patient.to_markdown(index=False, floatfmt=".3f"), "",
    ])  # fmt: skip
