"""The recommendation stage of ``causalrx run``: tiers for every patient and drug from
DR-learner estimates of the net benefit under the safety mask, checked against the
simulator's masked oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from causalrx.data.problem import DecisionProblem
from causalrx.data.simulate import SimulatedCohort
from causalrx.data.utility import Utility
from causalrx.effects import DRLearner, net_benefit
from causalrx.recommend import Recommendations, recommend
from causalrx.report.document import Section
from causalrx.report.representation import prepared_feature_table
from causalrx.safety import RuleSet


def recommend_on_cohort(sim: SimulatedCohort, Z: np.ndarray, folder: Path, *, n_folds: int = 5, n_estimators: int = 400,
                        explain: bool = True, random_state: int = 0,
                        progress: bool = False) -> tuple[Recommendations, pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """Estimate efficacy and adverse-event effects with a DR-learner on covariates ``Z``,
    combine them into the net benefit (the simulator's harm weight), and tier every drug
    under the default rule set. ``n_folds`` and ``n_estimators`` set the DR-learners.

    Drivers are read on the prepared feature table (:func:`prepared_feature_table`), so they
    name clinical, genomic, proteomic and ECG covariates even when ``Z`` is an embedding: by
    SHAP on a tree surrogate with ``explain=True``, else by a linear surrogate. Writes
    ``recommendations.csv`` (default mode). Returns that result; per mode (best point
    estimate, and ``require_benefit=True``) its agreement with the truth, beside the
    clinicians and the trivial rule "the drug with the best estimated average net benefit for
    everyone it is allowed, else the reference arm"; and, with ``explain``, the fidelity
    table: recall@3 of each drug's true effect modifiers among its top drivers, SHAP and
    linear side by side, explaining the estimated and the true net effect
    (:func:`causalrx.explain.modifier_recall`)."""
    from tqdm.auto import tqdm

    from causalrx.data.simulate.drugs import drug_specs
    from causalrx.explain import explain_effects, modifier_recall

    cohort = sim.cohort
    embedding = pd.DataFrame(np.asarray(Z, dtype=float), index=pd.Index(cohort.patient_ids, name="patient_id"))
    problem = DecisionProblem.from_cohort(cohort, embedding, reward="efficacy", mask=RuleSet.default())
    steps = tqdm(total=4, desc="recommendations", disable=not progress)
    effects = []
    for outcome in ("efficacy", "adverse_event"):  # the problem lists patients in the cohort's order
        learner = DRLearner(n_folds=n_folds, n_estimators=n_estimators, random_state=random_state)
        effects.append(learner.fit(problem, y=cohort.outcome(outcome)).effect(problem))
        steps.update()
    net = net_benefit(*effects, Utility(sim.truth.harm_weight))
    readable = prepared_feature_table(cohort, random_state).reindex(problem.patient_ids)
    names = list(problem.drugs)
    fidelity = pd.DataFrame()
    if explain:
        estimated = net.reindex(problem.patient_ids, problem.drugs).ite
        ref = problem.reference_index
        true_net = sim.truth.ite_net - sim.truth.ite_net[:, [ref]]  # the cohort's (the problem's) drug order
        specs = drug_specs(cohort.n_actions)
        frames, drivers = [], None
        for label, ite in (("estimated net effect", estimated), ("true net effect", true_net)):
            for method in ("shap", "linear"):
                attribution = explain_effects(ite, readable, names, method=method, random_state=random_state)
                if label.startswith("estimated") and method == "shap":
                    drivers = attribution
                frames.append(modifier_recall(attribution, specs, k=3, harm_weight=sim.truth.harm_weight).assign(explained=label))
        fidelity = pd.concat(frames, ignore_index=True)
        fidelity.to_csv(folder / "drivers_fidelity.csv", index=False)
    steps.update()
    result = recommend(net, problem, readable, drivers=drivers if explain else "linear")
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
    single = int(np.argmax(np.where(np.arange(len(names)) == ref, 0.0, net.ite.mean(axis=0))))  # the best average effect, or none
    everyone = np.where(allowed[:, single], single, ref)
    checks.append(against_truth(f"trivial rule: {names[single]} wherever allowed", everyone))
    return result, pd.DataFrame(checks), fidelity


def sections(result: Recommendations, checks: pd.DataFrame, fidelity: pd.DataFrame) -> list[Section]:
    """The recommendations section: agreement with the truth beside the clinicians and the trivial rule, tiers, an example patient."""
    summary = result.summary()
    r2 = result.surrogate_r2.dropna().round(2)
    example = result.table.groupby("patient_id", sort=False).filter(lambda g: (g["tier"] == "contraindicated").any())
    pid = example["patient_id"].iloc[0] if len(example) else result.table["patient_id"].iloc[0]
    patient = result.for_patient(pid)[["drug", "tier", "rank", "effect", "lower", "upper", "confidence", "reason", "drivers"]]
    section = Section("recommendations", "Recommendations")
    section.text(f"> {result.disclaimer}")
    section.text("Per patient, the allowed drug with the best estimated net benefit (DR-learner on efficacy and adverse events,",
                 "combined by the utility) is *recommended*, the other allowed drugs are *alternatives* and masked drugs",
                 "*contraindicated*, with the rules behind them (`recommendations.csv`). The conservative mode (`require_benefit=True`)",
                 "recommends a drug over the reference arm only when its 95% interval lies above zero. Against the simulator's truth",
                 "(regret: true net benefit of the masked oracle's drug minus that of the recommended one; the clinicians' row may",
                 "include masked drugs they prescribed), beside the trivial rule of one drug for everyone it is allowed:")  # fmt: skip
    default = checks.iloc[0]
    trivial = checks[checks["mode"].str.startswith("trivial rule")].iloc[0]
    if default["mean_true_regret"] >= trivial["mean_true_regret"]:
        section.verdict = (f"The recommendations do no better than the trivial rule ({trivial['mode'].removeprefix('trivial rule: ')}): "
                           f"mean true regret {default['mean_true_regret']:.3f} against {trivial['mean_true_regret']:.3f}.")  # fmt: skip
    weak = r2[r2 < 0.2]
    if len(weak) and not section.verdict:
        section.verdict = (f"The estimated per-patient differences of {', '.join(weak.index)} are mostly unexplained by the covariates "
                           f"(surrogate R^2 below 0.2): read their drivers, and their ranking within a patient, with caution.")  # fmt: skip
    elif len(weak):
        section.verdict += f" The estimated per-patient differences of {', '.join(weak.index)} are mostly unexplained (surrogate R^2 below 0.2)."
    section.table(checks).table(summary, "Tiers by drug")
    how = "SHAP values of a boosted-tree surrogate" if not fidelity.empty else "a linear surrogate"
    section.text(f"Drivers (the covariates that move a patient's estimated net benefit most, with their sign) come from {how} of",
                 "each drug's estimated effect on the prepared covariates; share of the estimated heterogeneity the surrogate explains",
                 "(R^2" + (", out of fold" if not fidelity.empty else "") + "): " + ", ".join(f"{d} {v}" for d, v in r2.items()) + ".")  # fmt: skip
    if not fidelity.empty:
        wide = fidelity.pivot_table(index="drug", columns=["explained", "method"], values="recall_at_3", sort=False)
        wide.columns = [f"{e}, {m}" for e, m in wide.columns]
        section.text("Do the drivers find the simulator's true effect modifiers? Recall@3: the share of each drug's largest known",
                     "modifiers (up to 3) among its top 3 variables by mean |attribution| (`drivers_fidelity.csv`). The rows explaining",
                     "the *true* effect test the explainer alone; those explaining the estimate also carry the estimator's error.")  # fmt: skip
        section.table(wide.reset_index(), "Recall@3 of the true effect modifiers, SHAP versus the linear surrogate")
    section.table(patient, f"Patient {pid}")
    return [section]
