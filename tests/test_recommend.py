"""Recommendation tiers: never an unsafe drug, the masked oracle's choice on true effects,
hand-computed confidence, drivers that match the effect's known modifiers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from causalrx.data.simulate import simulate_cohort
from causalrx.disclaimer import DISCLAIMER
from causalrx.effects import EffectEstimate
from causalrx.exceptions import ValidationError
from causalrx.recommend import recommend
from causalrx.safety import RuleSet


def estimate(ite, half_width, names=None):
    ite = np.asarray(ite, dtype=float)
    lower, upper = ite - half_width, ite + half_width
    names = names or tuple(f"d{j}" for j in range(ite.shape[1]))
    return EffectEstimate(ite, lower, upper, ite.mean(0), ite.mean(0), ite.mean(0), "test", names)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 25), k=st.integers(2, 7), require=st.booleans())
def test_a_masked_drug_is_always_contraindicated_and_one_allowed_drug_is_recommended(seed, n, k, require):
    rng = np.random.default_rng(seed)
    ite = rng.normal(size=(n, k)) * 3
    ite[:, 0] = 0
    mask = rng.random((n, k)) < 0.5
    mask[:, 0] = True
    table = recommend(estimate(ite, rng.random((n, k)) * 2), mask, require_benefit=require).table
    tier = table["tier"].to_numpy().reshape(n, k)
    assert np.all((tier == "contraindicated") == ~mask)
    assert np.all((tier == "recommended").sum(axis=1) == 1)
    assert np.all(table["rank"].to_numpy().reshape(n, k)[tier == "recommended"] == 1)
    # the recommended drug is never worse than the reference arm by its point estimate
    assert np.all(ite[tier == "recommended"] >= 0)


def test_tiers_on_true_effects_follow_the_masked_oracle_with_reasons():
    sim = simulate_cohort(n=3000, n_drugs=6, random_state=0)
    mask = RuleSet.default().evaluate(sim.cohort)
    names = sim.cohort.action_names
    assert mask.drugs == tuple(names) and names[0] == sim.cohort.reference
    truth = sim.truth.ite_net
    rec = recommend(estimate(truth, 0.0, tuple(names)), mask)
    tier = rec.table["tier"].to_numpy().reshape(truth.shape)
    oracle = sim.oracle_policy(mask.allowed).argmax(axis=1)
    assert np.array_equal(np.flatnonzero(tier == "recommended") % truth.shape[1], oracle)
    masked = rec.table[rec.table["tier"] == "contraindicated"]
    assert len(masked) == int((~mask.allowed).sum()) > 0
    assert masked["reason"].str.len().gt(0).all()  # every contraindication carries its rule
    pid, drug = masked["patient_id"].iloc[0], masked["drug"].iloc[0]
    assert all(r["rule_id"] in masked["reason"].iloc[0] for r in mask.reasons(pid, drug) if r["action"] == "contraindicated")
    pending = masked[masked["pending_data"] != ""]  # no genotype: masked until recorded, the field named
    assert len(pending) == int(mask.pending.sum()) > 0
    assert all(f in why for f, why in zip(pending["pending_data"].str.split(", ").str[0], pending["reason"]))
    assert rec.disclaimer == DISCLAIMER
    summary = rec.summary()
    assert summary[["recommended", "alternative", "contraindicated"]].to_numpy().sum() == truth.size


def test_benefit_must_be_established_before_a_drug_replaces_the_reference_arm():
    # drug 1 is better by its point estimate, but its 95% interval crosses zero
    effect = estimate([[0.0, 0.5, -0.2]], np.array([[0.0, 0.98, 0.1]]))
    strict = recommend(effect, np.ones((1, 3), bool), require_benefit=True).table
    assert strict["tier"].tolist() == ["recommended", "alternative", "alternative"]
    assert strict["rank"].tolist() == [1, 2, 3]
    best_guess = recommend(effect, np.ones((1, 3), bool)).table  # default: the best point estimate
    assert best_guess["tier"].tolist() == ["alternative", "recommended", "alternative"]
    # a minimum worthwhile effect holds back a drug whose interval sits just above zero ...
    sure = estimate([[0.0, 0.5]], np.array([[0.0, 0.3]]))
    assert recommend(sure, np.ones((1, 2), bool), require_benefit=True).table["tier"].tolist() == ["alternative", "recommended"]
    assert recommend(sure, np.ones((1, 2), bool), require_benefit=True, min_effect=0.25).table["tier"].tolist() == [
        "recommended", "alternative"]  # fmt: skip
    # ... and, without the interval requirement, one whose point estimate is below it
    assert recommend(sure, np.ones((1, 2), bool), min_effect=0.6).table["tier"].tolist() == ["recommended", "alternative"]


def test_confidence_is_the_normal_probability_of_beating_the_reference():
    z = norm.ppf(0.975)
    effect = estimate([[0.0, 1.0, -0.5]], np.array([[0.0, z, 2 * z]]))  # se 1 and 2
    table = recommend(effect, np.ones((1, 3), bool)).table
    assert table["confidence"].iloc[1] == pytest.approx(norm.cdf(1.0))
    assert table["confidence"].iloc[2] == pytest.approx(norm.cdf(-0.25))
    assert table["confidence"].iloc[0] == pytest.approx(1 - norm.cdf(1.0))  # no allowed drug beats the reference
    # a masked rival does not lower the reference arm's confidence; no interval, no confidence
    masked = recommend(effect, np.array([[True, False, True]])).table
    assert masked["confidence"].iloc[0] == pytest.approx(1 - norm.cdf(-0.25))
    bare = EffectEstimate(np.array([[0.0, 1.0]]), np.full((1, 2), np.nan), np.full((1, 2), np.nan), np.zeros(2),
                          np.zeros(2), np.zeros(2), "T-learner", ("a", "b"))  # fmt: skip
    table = recommend(bare, np.ones((1, 2), bool), require_benefit=True).table  # the point estimate decides
    assert table["tier"].tolist() == ["alternative", "recommended"] and table["confidence"].isna().all()


@pytest.mark.parametrize("method", ["linear", "shap"])
def test_drivers_name_the_covariates_that_modify_the_effect(method):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 4))
    ite = np.column_stack([np.zeros(400), 2 * X[:, 1], -3 * X[:, 3] + 0.5 * X[:, 0]])
    rec = recommend(estimate(ite, 0.1), np.ones((400, 3), bool), X, feature_names=["age", "egfr", "bmi", "qtc"], drivers=method)
    if method == "linear":
        assert rec.surrogate_r2.iloc[1:].to_numpy() == pytest.approx([1.0, 1.0])
    else:  # out-of-fold R^2 of the tree surrogate: near 1 on a noiseless effect, never exactly
        assert (rec.surrogate_r2.iloc[1:] > 0.9).all() and (rec.surrogate_r2.iloc[1:] < 1).all()
    table = rec.table
    d1 = table[table["drug"] == "d1"]["drivers"]
    if method == "linear":
        assert d1.str.startswith("egfr").all() and not d1.str.contains("bmi").any()  # bmi modifies nothing
    else:  # trees give small shares to covariates they split on by chance: egfr leads wherever it matters
        assert d1[np.abs(X[:, 1]) > 0.5].str.startswith("egfr").all() and not d1.str.startswith("bmi").any()
    i = int(np.argmax(np.abs(X[:, 3])))
    assert table[(table["patient_id"] == i) & (table["drug"] == "d2")]["drivers"].iloc[0].startswith("qtc (")
    assert (table[table["drug"] == "d0"]["drivers"] == "").all()  # the reference arm has no effect to explain
    assert rec.for_patient(i)["tier"].iloc[0] == "recommended"


def test_clear_errors():
    effect = estimate(np.zeros((2, 3)), 0.1)
    with pytest.raises(ValidationError, match="mask: expected a bool array of shape"):
        recommend(effect, np.ones((2, 2), bool))
    with pytest.raises(ValidationError, match="reference arm 'd0' is masked for 1"):
        recommend(effect, np.array([[False, True, True], [True, True, True]]))
    with pytest.raises(ValidationError, match="non-finite"):
        recommend(estimate(np.array([[0, np.nan, 1.0]]), 0.1), np.ones((1, 3), bool))
    with pytest.raises(ValidationError, match="n_drivers"):
        recommend(effect, np.ones((2, 3), bool), n_drivers=-1)
    with pytest.raises(ValidationError, match="min_effect"):
        recommend(effect, np.ones((2, 3), bool), min_effect=float("nan"))
    with pytest.raises(ValidationError, match="X: expected a 2-D array with 2 rows"):
        recommend(effect, np.ones((2, 3), bool), np.zeros((3, 2)))
    with pytest.raises(ValidationError, match="patient_id"):
        recommend(effect, np.ones((2, 3), bool)).for_patient(7)
    sim = simulate_cohort(n=200, n_drugs=3, random_state=1)
    mask = RuleSet.default().evaluate(sim.cohort)
    names = tuple(sim.cohort.action_names)
    features = sim.cohort.feature_table()[["age"]]
    assert len(recommend(estimate(np.zeros((200, 3)), 0.1, names), mask, features).table) == 600
    with pytest.raises(ValidationError, match="does not follow the mask's patient order"):
        recommend(estimate(np.zeros((200, 3)), 0.1, names), mask, features.iloc[::-1])
    with pytest.raises(ValidationError, match=r"drug\(s\) \['d1', 'd2'\] of the effect estimate are not in the mask"):
        recommend(estimate(np.zeros((200, 3)), 0.1, ("standard_care", "d1", "d2")), mask)
