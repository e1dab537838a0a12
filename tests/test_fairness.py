"""Policy values, harm and allocation per subgroup: hand-computed cases and truth on a simulated cohort."""

import numpy as np
import pandas as pd
import pytest

from causalrx.exceptions import ValidationError
from causalrx.fairness import subgroup_fairness


def test_values_gaps_and_allocation_by_hand(tmp_path):
    gamma = np.array([[1.0, 3.0], [2.0, 0.0], [0.0, 4.0], [1.0, 1.0]])
    always_b = np.tile([0.0, 1.0], (4, 1))
    half = np.full((4, 2), 0.5)
    sex = ["F", "F", "M", "M"]
    mask = np.array([[True, True], [True, False], [True, True], [True, True]])
    harm = np.array([[0.0, 1.0], [0.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    report = subgroup_fairness(gamma, {"b": always_b, "half": half}, sex, drugs=["a", "b"], mask=mask, harm_gamma=harm,
                               reference="a", truth=gamma, random_state=0)  # fmt: skip
    v = report.values.set_index(["measure", "subgroup", "policy"])
    assert v.loc[("value", "F", "b"), "estimate"] == pytest.approx(1.5)  # (3 + 0) / 2
    assert v.loc[("value", "M", "b"), "estimate"] == pytest.approx(2.5)  # (4 + 1) / 2
    assert v.loc[("value", "F", "half"), "estimate"] == pytest.approx(1.5)  # (2 + 1) / 2
    assert v.loc[("harm", "F", "b"), "estimate"] == pytest.approx(0.5) and v.loc[("harm", "M", "half"), "estimate"] == pytest.approx(0.25)
    # masked oracle per patient: 3, 2 (b masked), 4, 1 -> F 2.5, M 2.5; regret of "b": F 1.0, M 0.0
    assert v.loc[("value", "F", "b"), "true_regret"] == pytest.approx(1.0) and v.loc[("value", "M", "b"), "true_regret"] == pytest.approx(0.0)
    assert v.loc[("benefit", "F", "b"), "estimate"] == pytest.approx(0.0)  # ((3 - 1) + (0 - 2)) / 2
    assert v.loc[("benefit", "M", "b"), "estimate"] == pytest.approx(2.0) and v.loc[("benefit", "M", "b"), "true_value"] == pytest.approx(2.0)
    gap = report.disparities.set_index(["measure", "policy"]).loc[("value", "b")]
    assert gap["gap"] == pytest.approx(1.0) and (gap["highest"], gap["lowest"]) == ("M", "F")
    alloc = report.allocation.set_index(["subgroup", "policy"])
    assert alloc.loc[("F", "half"), "a"] == 0.5 and alloc.loc[("F", "b"), "share_drugs_masked"] == pytest.approx(0.25)
    assert report.plot(tmp_path / "fair.png").stat().st_size > 0


def test_subgroup_values_cover_the_truth_on_a_simulated_cohort():
    from causalrx.data.simulate import simulate_cohort
    from causalrx.policy.base import dr_scores
    from causalrx.report.representation import raw_covariates
    from causalrx.safety import RuleSet

    sim = simulate_cohort(n=3000, n_drugs=4, random_state=5, ecg=False)
    X = raw_covariates(sim.cohort)
    logged = sim.bandit_feedback(X)
    gamma = dr_scores(logged.context, logged.action, logged.reward, 4, propensity=sim.truth.propensity, n_folds=3, random_state=0)
    allowed = RuleSet.default().evaluate(sim.cohort).allowed
    truth = sim.truth.efficacy_mean - sim.truth.harm_weight * sim.truth.adverse_prob  # expected net reward per drug
    policies = {"oracle": sim.oracle_policy(allowed), "clinicians": sim.truth.propensity}
    clinical = sim.cohort.clinical.set_index("patient_id").reindex(sim.cohort.patient_ids)
    groups = pd.DataFrame({"sex": clinical["sex"].to_numpy(), "age 65+": clinical["age"].to_numpy() >= 65})
    report = subgroup_fairness(gamma, policies, groups, drugs=sim.cohort.action_names, mask=allowed, truth=truth, random_state=0)
    values = report.values
    assert values["joint_covered"].all()
    oracle = values[values["policy"] == "oracle"]
    assert oracle["true_regret"].abs().max() < 1e-9  # the masked oracle has no regret in any subgroup
    assert (values[values["policy"] == "clinicians"]["true_regret"] > 0).all()


def test_clear_errors():
    gamma = np.zeros((3, 2))
    with pytest.raises(ValidationError, match=r"policies\['p'\]: 3 row\(s\) do not sum to 1 \(e\.g\. row 0\)"):
        subgroup_fairness(gamma, {"p": np.ones((3, 2))}, ["a", "a", "b"])
    with pytest.raises(ValidationError, match=r"policies\['p'\]: expected shape \(3, 2\)"):
        subgroup_fairness(gamma, {"p": np.ones((2, 2)) / 2}, ["a", "a", "b"])
    with pytest.raises(ValidationError, match="policies: expected a dict"):
        subgroup_fairness(gamma, [], ["a", "a", "b"])
    with pytest.raises(ValidationError, match="mask: expected a bool array of shape"):
        subgroup_fairness(gamma, {"p": np.full((3, 2), 0.5)}, ["a", "a", "b"], mask=np.ones((2, 2), bool))
    with pytest.raises(ValidationError, match="reference: expected one of the drugs"):
        subgroup_fairness(gamma, {"p": np.full((3, 2), 0.5)}, ["a", "a", "b"], drugs=["x", "y"], reference="z")
    with pytest.raises(ValidationError, match="gamma: expected finite"):
        subgroup_fairness(np.full((3, 2), np.nan), {"p": np.full((3, 2), 0.5)}, ["a", "a", "b"])


def _tiers(recommended: dict, contraindicated: dict, drugs) -> pd.DataFrame:
    rows = []
    for pid, best in recommended.items():
        for d in drugs:
            tier = "recommended" if d == best else "contraindicated" if d in contraindicated.get(pid, ()) else "alternative"
            rows.append({"patient_id": pid, "drug": d, "tier": tier})
    return pd.DataFrame(rows)


def test_recommendation_tiers_by_subgroup_by_hand():
    from statsmodels.stats.proportion import proportion_confint

    from causalrx.fairness import recommendation_fairness

    drugs = ["ref", "x", "y"]
    ids = ["p1", "p2", "p3", "p4"]
    gamma = np.array([[0.0, 1.0, 2.0], [0.0, 3.0, 1.0], [1.0, 0.0, 5.0], [2.0, 2.0, 0.0]])
    table = _tiers({"p4": "ref", "p1": "y", "p2": "x", "p3": "y"}, {"p1": ("x",), "p3": ("x",)}, drugs)  # rows in another order
    report = recommendation_fairness(table, gamma, pd.Series(["F", "F", "M", "M"], name="sex"), ids, drugs=drugs, reference="ref",
                                     truth=gamma, random_state=0)  # fmt: skip
    v = report.values.set_index(["measure", "subgroup"])
    assert v.loc[("value", "F"), "estimate"] == pytest.approx(2.5)  # p1 y = 2, p2 x = 3
    assert v.loc[("value", "M"), "estimate"] == pytest.approx(3.5)  # p3 y = 5, p4 ref = 2
    assert v.loc[("benefit", "M"), "estimate"] == pytest.approx(2.0)  # (5 - 1 + 2 - 2) / 2
    assert v.loc[("value", "F"), "true_regret"] == pytest.approx(0.0) and v.loc[("value", "M"), "true_regret"] == pytest.approx(0.0)
    t = report.tiers.set_index(["subgroup", "drug", "tier"])
    assert t.loc[("F", "x", "contraindicated"), "share"] == 0.5 and t.loc[("M", "y", "recommended"), "share"] == 0.5
    lo, hi = proportion_confint(1, 2, alpha=0.05, method="wilson")
    assert (t.loc[("F", "x", "contraindicated"), "lower"], t.loc[("F", "x", "contraindicated"), "upper"]) == pytest.approx((lo, hi))
    assert t.loc[("M", "ref", "recommended"), "share"] == 0.5 and t.loc[("F", "ref", "recommended"), "upper"] == pytest.approx(
        proportion_confint(0, 2, alpha=0.05, method="wilson")[1])
    shares = report.tiers.groupby(["subgroup", "drug"])["share"].sum()
    np.testing.assert_allclose(shares, 1.0)  # every drug is in exactly one tier for every patient


def test_recommendation_fairness_refuses_patients_without_one_recommendation():
    from causalrx.fairness import recommendation_fairness

    drugs = ["ref", "x"]
    table = _tiers({"p1": "x"}, {}, drugs)
    with pytest.raises(ValidationError, match=r"1 of 2 patients do not have exactly one recommended drug \(e\.g\. 'p2' has 0\)"):
        recommendation_fairness(table, np.zeros((2, 2)), ["F", "M"], ["p1", "p2"], drugs=drugs)
    with pytest.raises(ValidationError, match=r"drugs \['z'\] are not among"):
        recommendation_fairness(_tiers({"p1": "z"}, {}, ["ref", "z"]), np.zeros((1, 2)), ["F"], ["p1"], drugs=drugs)
