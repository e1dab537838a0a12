"""The sections of the ``causalrx run`` report, each beside the trivial rule it must beat.

Every stage writes its CSV files and returns :class:`~causalrx.report.document.Section`
objects plus the JSON-ready results for ``summary.json``. Where an estimate scores worse
than a trivial rule on the same data (a constant effect for everyone, a single drug for
everyone, the training prevalence as the risk), the section says so first, in words.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from causalrx.data.simulate import SimulatedCohort
from causalrx.report.config import RunConfig
from causalrx.report.document import Section


def _records(frame: pd.DataFrame) -> list[dict]:
    return frame.to_dict(orient="records")


# ---------------------------------------------------------------- cohort
def cohort(summary, folder: Path, written: dict) -> list[Section]:
    from causalrx.report.cohort_summary import plot_effects

    for name, frame in (("effects", summary.effects), ("treatments", summary.treatments), ("missingness", summary.missingness)):
        frame.to_csv(folder / f"{name}.csv", index=False)
        written[name] = folder / f"{name}.csv"
    fig = plot_effects(summary)
    fig.savefig(folder / "effects.png", dpi=110)
    written["plot"] = folder / "effects.png"
    counts = pd.DataFrame({"": [k.replace("_", " ") for k in summary.counts], "count": list(summary.counts.values())})
    first = Section("cohort", "Cohort").table(counts).table(summary.missingness, "Modalities and missingness")
    first.table(summary.treatments, "Logged treatments (baseline visit); share_contraindicated is the share of the drug's prescriptions "
                "that the simulator counts as truly contraindicated")  # fmt: skip
    naive = Section("naive", "Naive versus true effects (net reward vs reference arm)")
    naive.text("The naive contrast compares mean outcomes between logged arms; its bias is what confounding by the clinicians'",
               "choices does. The later stages correct for it.")  # fmt: skip
    naive.table(summary.effects).figure(folder / "effects.png", "naive vs true effects")
    return [first, naive]


# ---------------------------------------------------------------- safety
def safety_audit(sim: SimulatedCohort, folder: Path, written: dict):
    """The default rule set on every patient and drug, and the logged prescriptions it masks."""
    from causalrx.safety import RuleSet

    cohort = sim.cohort
    mask = RuleSet.default().evaluate(cohort)
    allowed = mask.allowed
    action = cohort.logged_actions(0)
    rows = np.arange(len(action))
    logged_masked = ~allowed[rows, action]
    names = list(cohort.action_names)
    by_drug = pd.DataFrame({
        "drug": names,
        "patients_masked": (~allowed).sum(axis=0),
        "patients_undecidable": mask.not_evaluable.sum(axis=0),
        "logged": np.bincount(action, minlength=len(names)),
        "logged_but_masked": np.bincount(action, weights=logged_masked, minlength=len(names)).astype(int),
    })  # fmt: skip
    rules = mask.rule_summary()
    if len(rules):
        hits = {}
        for f in mask.firings:
            if f.status == "fired":
                hits[f.rule.id] = hits.get(f.rule.id, 0) + int(np.isin(action[f.patients], f.columns).sum())
        rules["logged_prescriptions_hit"] = rules["rule_id"].map(hits).fillna(0).astype(int)
    rules.to_csv(folder / "safety_rules.csv", index=False)
    written["safety_rules"] = folder / "safety_rules.csv"
    section = Section("safety", "Safety audit of the logged prescriptions")
    section.text("The default rule set (contraindications, CPIC drug-gene rules, interactions, renal and age rules) masks",
                 f"{int(logged_masked.sum())} of {len(action)} logged prescriptions ({logged_masked.mean():.1%}). A rule that cannot be",
                 "decided for a patient (a field not recorded) masks its drug too: safety fails closed. Every policy below is",
                 "learned and evaluated under this mask, and no masked drug is ever recommended (`safety_rules.csv`).")  # fmt: skip
    section.table(by_drug, "By drug")
    if len(rules):
        section.table(rules.sort_values("logged_prescriptions_hit", ascending=False), "By rule")
    if logged_masked.any():
        i = int(np.flatnonzero(logged_masked)[0])
        pid, drug = cohort.patient_ids[i], names[action[i]]
        reasons = pd.DataFrame(mask.reasons(pid, drug))
        keep = [c for c in ("rule_id", "status", "reason", "guideline", "year", "strength", "source") if c in reasons]
        section.table(reasons[keep], f"Example: patient {pid} was prescribed {drug}; the rules behind its mask, with their sources")
    payload = {"logged": int(len(action)), "logged_masked": int(logged_masked.sum()), "by_drug": _records(by_drug)}
    return allowed, [section], payload


# ---------------------------------------------------------------- risk
def encoder_and_risk(sim: SimulatedCohort, config: RunConfig, folder: Path, written: dict, progress: bool):
    from causalrx.report import representation

    rep, figure = representation.encode(sim, config.encoder, folds=config.encoder_folds, epochs=config.encoder_epochs,
                                        n_bootstrap=config.bootstrap, random_state=config.random_state, progress=progress)  # fmt: skip
    written.update(representation.save(rep, figure, folder))
    section = Section("risk", "Risk model (encoder)")
    section.text(f"Encoder `{rep.encoder}`, trained on 70% of the patients; its risk head is scored on the other 30% (95%",
                 "stratified-bootstrap intervals). The baseline is the trivial rule that gives every test patient the training",
                 "prevalence: AUROC 0.5 and the Brier score below. Embeddings for the later stages are out of fold",
                 f"({rep.embedding_shape[1]} columns).")  # fmt: skip
    payload = {"encoder": rep.encoder, "embedding_columns": int(rep.embedding_shape[1])}
    if not rep.risk.empty:
        risk = rep.risk.copy()
        brier = risk.loc[risk["metric"] == "brier", "estimate"]
        if len(brier) and float(brier.iloc[0]) >= rep.baseline_brier:
            section.verdict = (f"The risk head is no better calibrated-and-sharp than the training prevalence: Brier "
                               f"{float(brier.iloc[0]):.3f} against {rep.baseline_brier:.3f}.")  # fmt: skip
        risk["trivial_rule"] = risk["metric"].map({"auroc": 0.5, "brier": rep.baseline_brier})
        section.table(risk, "Risk head on the held-out patients; trivial_rule: the training prevalence for everyone")
        section.table(rep.strata, "Risk strata").figure(folder / "calibration.png", "calibration")
        payload.update(metrics=_records(risk), baseline_brier=rep.baseline_brier)
    if not rep.risk_drivers.empty:
        section.text("What drives the risk head: integrated gradients (Captum) of its logit on up to 300 held-out patients, by input",
                     "(standardised columns, missing-value indicators, ECG leads summed over time; categorical inputs are not",
                     f"attributed). Fidelity check: {rep.risk_driver_share:.0%} of the top 5 carry one of the simulator's true risk factors",
                     "(age, diabetes, PRS, TLR7 dosage, NT-proBNP, GDF-15, QTc, heart rate from the ECG).")  # fmt: skip
        section.table(rep.risk_drivers, "Top 5 inputs of the risk head by mean |integrated gradient|")
        payload.update(risk_drivers=_records(rep.risk_drivers), risk_driver_share=rep.risk_driver_share)
    return rep.embedding, [section], payload


# ---------------------------------------------------------------- effects
def effects(sim: SimulatedCohort, config: RunConfig, Z, folder: Path, written: dict):
    """Efficacy effects of a DR-learner per covariate set against the truth and the constant-effect rule."""
    from causalrx.effects import DRLearner, cohort_inputs
    from causalrx.report.representation import prepared_feature_table

    cohort = sim.cohort
    _, action, y, names = cohort_inputs(cohort, "efficacy")
    ref = cohort.reference_index
    truth = sim.truth.ite_efficacy - sim.truth.ite_efficacy[:, [ref]]
    sets = [("prepared features", prepared_feature_table(cohort, config.random_state).to_numpy())]
    if Z is not None:
        sets.append((f"{config.encoder} embedding (out of fold)", Z))
    rows = []
    for label, X in sets:
        learner = DRLearner(n_folds=config.effect_folds, n_estimators=config.effect_trees, random_state=config.random_state)
        ite = learner.fit(X, action, y, action_names=names, reference=cohort.reference).effect(X, interval=False).ite
        for a in (j for j in range(len(names)) if j != ref):
            est, true = ite[:, a], truth[:, a]
            constant = np.full_like(true, est.mean())
            rows.append({
                "drug": names[a], "covariates": label, "columns": X.shape[1],
                "sqrt_pehe": float(np.sqrt(np.mean((est - true) ** 2))),
                "corr_with_truth": float(np.corrcoef(est, true)[0, 1]) if est.std() > 0 and true.std() > 0 else np.nan,
                "constant_ate_sqrt_pehe": float(np.sqrt(np.mean((constant - true) ** 2))),
                "true_effect_sd": float(true.std()),
                "estimated_ate": float(est.mean()), "true_ate": float(true.mean()),
            })  # fmt: skip
    table = pd.DataFrame(rows)
    table["beats_constant"] = table["sqrt_pehe"] < table["constant_ate_sqrt_pehe"]
    table.to_csv(folder / "effects_vs_truth.csv", index=False)
    written["effects_vs_truth"] = folder / "effects_vs_truth.csv"
    section = Section("effects", "Treatment effects against the truth")
    section.text("Per-patient efficacy effects of each drug versus the reference arm (DR-learner with a forest final stage), scored",
                 "against the simulator's true effects: sqrt(PEHE) and the correlation with the truth. The trivial rule gives every",
                 "patient the same effect, the learner's own average (constant_ate_sqrt_pehe); true_effect_sd is what the true",
                 "average effect would score. A per-patient estimate is only worth reading where it beats the constant.")  # fmt: skip
    losers = table[~table["beats_constant"]]
    if len(losers):
        worst = ", ".join(f"{r.drug} ({r.covariates})" for r in losers.itertuples())
        section.verdict = (f"{len(losers)} of {len(table)} per-patient effect estimates lose to the constant-effect rule: {worst}. "
                           "For these, report the average effect, not the per-patient one.")  # fmt: skip
    section.table(table)
    return [section], _records(table)


# ---------------------------------------------------------------- policies
LEARNED = ("effect-greedy", "policy tree", "DR bandit")


def collapse_duplicates(table: pd.DataFrame, keep: str = "DR", tol: float = 1e-9) -> tuple[pd.DataFrame, list[str]]:
    """Drop estimator rows whose point estimate equals ``keep``'s for the same policy (within ``tol``:
    Switch-DR and DR-os when tuning chose no clipping or shrinkage; their intervals differ only by
    their own bootstrap); returns the table and one note per policy naming what was dropped."""
    drop, notes = [], []
    for policy, rows in table.groupby("policy", sort=False):
        base = rows[rows["estimator"] == keep]
        if base.empty:
            continue
        b = base.iloc[0]
        same = rows[(rows["estimator"] != keep) & ((rows["value"] - b["value"]).abs() <= tol)]
        if len(same):
            drop.extend(same.index)
            notes.append(f"{policy}: {', '.join(same['estimator'])} equal to {keep}")
    return table.drop(index=drop), notes


def policies(sim: SimulatedCohort, config: RunConfig, Z: np.ndarray, allowed: np.ndarray, scores: tuple, folder: Path, written: dict,
             progress: bool):  # fmt: skip
    """Learners and baselines (clinicians, uniform, reference arm, best single drug) compared off-policy under the mask;
    ``scores``: :func:`reward_scores`, the reward model of the comparison and the DR scores of the fairness table."""
    q, gamma = scores
    from causalrx.compare import compare
    from causalrx.data.problem import DecisionProblem
    from causalrx.effects import DRLearner
    from causalrx.policy import (BestSingleDrugPolicy, DRPolicyLearner, EffectGreedyPolicy, LoggedPolicy, PolicyTreeLearner,
                                 ReferencePolicy, UniformPolicy)  # fmt: skip

    k, seed, folds = sim.cohort.n_actions, config.random_state, config.effect_folds
    logged = sim.bandit_feedback(Z, mask=allowed)
    problem = DecisionProblem.from_arrays(logged.context, logged.action_names, sim.cohort.reference, mask=allowed,
                                          action=logged.action, reward=logged.reward, propensity=sim.truth.propensity,
                                          patient_ids=sim.cohort.patient_ids)  # fmt: skip
    learner = DRLearner(n_folds=folds, n_estimators=config.effect_trees, random_state=seed)
    candidates = {
        "clinicians (cloned)": LoggedPolicy(), "uniform": UniformPolicy(k), "reference": ReferencePolicy(k, sim.cohort.reference_index),
        "best single drug": BestSingleDrugPolicy(n_folds=folds, random_state=seed),
        "effect-greedy": EffectGreedyPolicy(estimator=learner, random_state=seed),
        "policy tree": PolicyTreeLearner(max_depth=2, n_folds=folds, random_state=seed),
        "DR bandit": DRPolicyLearner(n_folds=folds, random_state=seed),
    }  # fmt: skip
    oracle = sim.true_policy_value(sim.oracle_policy(allowed))
    with warnings.catch_warnings(record=True) as caught:  # shown in the section, not lost on the console
        warnings.simplefilter("always")
        result = compare(problem, candidates, oracle_value=oracle, estimated_rewards=q,
                         true_value=lambda name, p: sim.true_policy_value(p.action_dist(Z, allowed)),
                         plot_path=folder / "policies.png", progress=progress, random_state=seed)  # fmt: skip
    notes = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    table = result.table
    table.to_csv(folder / "policies.csv", index=False)
    written.update(policies=folder / "policies.csv", policies_plot=folder / "policies.png")
    single = result.policies["best single drug"]
    drug = problem.drugs[single.drug_index_] if hasattr(single, "drug_index_") else "see policies.csv"
    dr = table[table["estimator"] == "DR"].set_index("policy")
    section = Section("policies", "Policies (off-policy comparison)")
    section.text("Learned policies are cross-fitted over two folds of patients and never put mass on a masked drug. Beside them, the",
                 "trivial rules: the clinicians (cloned), uniform, the reference arm for everyone, and the *best single drug* for",
                 f"everyone it is allowed (chosen by its DR value; here {drug}, the reference arm where it is masked). Doubly robust",
                 "estimates with 95% intervals, the true value and the regret against the masked oracle (the vertical line in the plot).")  # fmt: skip
    best_learned = dr.loc[[p for p in LEARNED if p in dr.index], "value"].max()
    if best_learned <= dr.loc["best single drug", "value"]:
        section.verdict = (f"No learned policy beats the best single drug ({drug} wherever allowed) by the DR estimates: best "
                           f"learned {best_learned:.3f} against {dr.loc['best single drug', 'value']:.3f}.")  # fmt: skip
    elif "true_value" in dr and dr.loc[[p for p in LEARNED if p in dr.index], "true_value"].max() <= dr.loc["best single drug", "true_value"]:
        section.verdict = (f"By the simulator's truth no learned policy beats the best single drug ({drug} wherever allowed), "
                           "although the DR estimates say otherwise.")  # fmt: skip
    shown = ["value", "lower", "upper", "true_value", "regret", "mask_violations", "fit_seconds"]
    summary = dr[[c for c in shown if c in dr]].reset_index()
    summary["vs_best_single_drug"] = summary["value"] - dr.loc["best single drug", "value"]
    section.table(summary, f"DR estimates; masked oracle's true value {oracle:.3f}")
    columns = ["policy", "estimator", "value", "lower", "upper", "true_value", "ess", "max_weight"]
    collapsed, same = collapse_duplicates(table[[c for c in columns if c in table]])
    section.figure(folder / "policies.png", "off-policy estimates, true values and the masked oracle")
    section.table(collapsed, "Every estimator (`policies.csv`)" + (f"; rows with the same point estimate as DR left out: {'; '.join(same)}" if same else ""))
    if notes:
        section.text("Warnings while fitting and evaluating (low effective sample sizes make IPS-type intervals wide): " + " | ".join(notes))
    fair = _fairness(sim, Z, gamma, allowed, result, seed, folder, written)
    section.text("Is anyone worse served? Each policy's DR value by sex, age band, centre and X-escape genotype (sex-aware",
                 "TLR7 dosage: \"F 2\" is a woman with two risk alleles), with 95% intervals that hold",
                 "simultaneously over the whole table (`fairness.csv`; true value and regret against the masked oracle in the same",
                 "subgroup from the simulator). Subgroups differ in prognosis, so values differ under every policy, standard care",
                 "included; the gaps below are in *benefit*, a policy's value minus standard care's for the same patients. The largest",
                 "gap per grouping is picked from the data, so its interval is optimistic; Cochran's Q tests all subgroups at once.")  # fmt: skip
    values = fair.values[fair.values["measure"] == "value"]
    shown = values[values["grouping"].isin(["sex", "age band"])]
    section.table(shown[["grouping", "subgroup", "policy", "patients", "estimate", "joint_lower", "joint_upper", "true_value", "true_regret"]],
                  "DR value per subgroup (centres and genotypes in `fairness.csv` and the plot)")
    gaps = fair.disparities[fair.disparities["measure"] == "benefit"].drop(columns="measure")
    section.table(gaps[gaps["policy"] != "reference"], "Largest gap in benefit over standard care between subgroups, per grouping and policy")
    section.figure(folder / "fairness.png", "benefit over standard care per subgroup, simultaneous 95% intervals")
    payload = {"oracle_value": oracle, "best_single_drug": drug, "dr": _records(summary), "warnings": notes,
               "fairness": _records(fair.disparities)}  # fmt: skip
    return [section], payload


def reward_scores(sim: SimulatedCohort, Z: np.ndarray, config: RunConfig) -> tuple[np.ndarray, np.ndarray]:
    """The out-of-fold reward model ``q`` (n, k) of the net reward, which the policy comparison's
    estimators use, and the doubly robust scores built from it with the logged propensities,
    shared by the fairness tables of the policies and of the recommendations (so that their
    subgroup values average to the DR row of the comparison)."""
    from causalrx.ope import RewardModel
    from causalrx.policy.base import dr_table

    logged = sim.bandit_feedback(Z)
    q = RewardModel(random_state=config.random_state).fit_predict(logged)
    return q, dr_table(q, logged.action, logged.reward, logged.pscore)


def subgroups(cohort) -> pd.DataFrame:
    """The run's groupings, in the cohort's patient order: sex, age band (< 65, 65+), centre,
    and for every gene escaping X-inactivation in ``cohort.variants`` (e.g. TLR7) its
    sex-aware dosage ("F 2": a woman with two risk alleles; no genotype: "(missing)")."""
    clinical = cohort.clinical.set_index("patient_id").reindex(cohort.patient_ids)
    groups = pd.DataFrame({"sex": clinical["sex"].to_numpy(), "age band": np.where(clinical["age"] >= 65, "65+", "<65"),
                           "centre": clinical["centre"].to_numpy()})  # fmt: skip
    variants = cohort.variants
    if cohort.genomics is None or variants is None or "escapes_x_inactivation" not in variants:
        return groups
    escape = variants[variants["escapes_x_inactivation"].astype(bool) & variants["gene"].fillna("").astype(str).ne("")]
    genotypes = cohort.genomics.set_index("patient_id").reindex(cohort.patient_ids)
    for gene, variant in zip(escape["gene"], escape["variant_id"]):
        if variant in genotypes:
            dosage = genotypes[variant]
            label = groups["sex"].astype(str) + " " + dosage.fillna(0).round().astype(int).astype(str).to_numpy()
            groups[f"{gene} dosage"] = np.where(dosage.isna().to_numpy(), None, label.to_numpy())
    return groups


def _fairness(sim, Z, gamma, allowed, result, seed, folder, written):
    """Subgroup values of every compared policy from one set of cross-fitted DR scores."""
    from causalrx.fairness import subgroup_fairness

    dists = {name: policy.action_dist(Z, allowed) for name, policy in result.policies.items()}
    truth = sim.truth.efficacy_mean - sim.truth.harm_weight * sim.truth.adverse_prob
    fair = subgroup_fairness(gamma, dists, subgroups(sim.cohort), drugs=sim.cohort.action_names, mask=allowed,
                             reference=sim.cohort.reference, truth=truth, random_state=seed)  # fmt: skip
    fair.values.to_csv(folder / "fairness.csv", index=False)
    fair.plot(folder / "fairness.png", measure="benefit")
    written.update(fairness=folder / "fairness.csv", fairness_plot=folder / "fairness.png")
    return fair


# ---------------------------------------------------------------- recommendations
def recommendations(sim: SimulatedCohort, config: RunConfig, Z: np.ndarray, allowed: np.ndarray, gamma: np.ndarray, folder: Path,
                    written: dict, progress: bool):  # fmt: skip
    from causalrx.fairness import recommendation_fairness
    from causalrx.report import recommendations as rec

    result, checks, fidelity = rec.recommend_on_cohort(sim, Z, folder, n_folds=config.effect_folds, n_estimators=config.effect_trees,
                                                       explain=config.explain, random_state=config.random_state, progress=progress)  # fmt: skip
    written["recommendations"] = folder / "recommendations.csv"
    payload = {"checks": _records(checks), "tiers": _records(result.summary()), "surrogate_r2": result.surrogate_r2.to_dict()}
    if not fidelity.empty:
        written["drivers_fidelity"] = folder / "drivers_fidelity.csv"
        payload["drivers_fidelity"] = _records(fidelity)
    cohort, truth = sim.cohort, sim.truth.efficacy_mean - sim.truth.harm_weight * sim.truth.adverse_prob
    fair = recommendation_fairness(result, gamma, subgroups(cohort), cohort.patient_ids, drugs=cohort.action_names, mask=allowed,
                                   reference=cohort.reference, truth=truth, random_state=config.random_state)  # fmt: skip
    # The tiers were learned from these same patients' outcomes, so a DR estimate of following them on these patients is
    # optimistic (far above the truth on the default run); only the truth is reported for them here.
    # The cross-fitted effect-greedy policy (the same rule, learned out of fold) has honest DR values in the policies section.
    values = fair.values.loc[fair.values["measure"].isin(["value", "benefit"]),
                             ["measure", "grouping", "subgroup", "patients", "true_value", "true_regret"]]  # fmt: skip
    values.to_csv(folder / "recommendation_fairness.csv", index=False)
    fair.tiers.to_csv(folder / "recommendation_tiers.csv", index=False)
    written.update(recommendation_fairness=folder / "recommendation_fairness.csv", recommendation_tiers=folder / "recommendation_tiers.csv")
    true_value = values[values["measure"] == "value"].set_index(["grouping", "subgroup"])
    payload["fairness"] = _records(true_value.reset_index())
    parts = rec.sections(result, checks, fidelity)
    chosen = fair.tiers[fair.tiers["tier"] == "recommended"].pivot_table(index=["grouping", "subgroup"], columns="drug", values="share",
                                                                         sort=False)  # fmt: skip
    table = true_value[["patients", "true_value", "true_regret"]].join(chosen[list(cohort.action_names)].add_prefix("recommended: "))
    table = table.reset_index()
    parts[-1].text("Is anyone worse served by the recommendations? Per subgroup, the simulator's true value of following them and",
                   "the regret against the masked oracle in the same subgroup, and the share of patients each drug is recommended to",
                   "(`recommendation_fairness.csv`; every tier's share with a 95% Wilson interval in `recommendation_tiers.csv`). The",
                   "tiers were learned from these patients' own outcomes, so a doubly robust estimate of their value on the same",
                   "patients would be optimistic; the same rule learned out of fold is the *effect-greedy* policy, whose subgroup",
                   "values with intervals are in the policies section.")  # fmt: skip
    parts[-1].table(table[table["grouping"] != "centre"], "Following the recommendations, per subgroup (centres in the CSV files)")
    return parts, payload


# ---------------------------------------------------------------- configuration
def configuration(settings: dict, stages: pd.DataFrame, versions: dict) -> Section:
    section = Section("configuration", "Configuration, stages and versions")
    section.text("Settings (`config.yaml`; `causalrx run --help` lists every key):")
    section.table(pd.DataFrame({"key": list(settings), "value": [str(v) for v in settings.values()]}))
    section.table(stages, "Stages: wall time, and what a quiet machine of this size was expected to take")
    section.table(pd.DataFrame({"package": list(versions), "version": list(versions.values())}), "Versions")
    return section
