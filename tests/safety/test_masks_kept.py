"""A policy keeps the safety mask it learned under: no predicting without one by accident,
a Mask is matched by drug name and patient id, and a rule on the reference arm is refused."""

import numpy as np
import pandas as pd
import pytest

from causalrx.data.problem import DecisionProblem
from causalrx.exceptions import ValidationError
from causalrx.policy import DRPolicyLearner, EffectGreedyPolicy, LoggedPolicy, PolicyTreeLearner
from causalrx.effects import MetaLearner
from causalrx.safety import RuleSet

DRUGS = ("standard_care", "clopidogrel", "abacavir")
RULES = RuleSet.default()


def _patients(n, seed):
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({
        "patient_id": [f"p{seed}-{i}" for i in range(n)],
        "CYP2C19": rng.choice(["poor", "normal", "rapid"], n),
        "HLA-B*57:01": rng.choice(["positive", "negative"], n),
    })  # fmt: skip
    mask = RULES.evaluate(table, DRUGS, "standard_care")
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"], index=pd.Index(table["patient_id"], name="patient_id"))
    return X, mask


@pytest.fixture(scope="module")
def fitted():
    X, mask = _patients(300, 0)
    rng = np.random.default_rng(1)
    allowed = mask.allowed
    action = np.array([rng.choice(np.flatnonzero(row)) for row in allowed])
    reward = X["a"].to_numpy() * (action == 1) + 2.0 * (action == 2) + rng.normal(0, 0.3, len(X))  # abacavir pays
    problem = DecisionProblem(X, DRUGS, "standard_care", mask=mask, action=action, reward=reward)
    return {
        "logged": LoggedPolicy(calibration=None).fit(problem),
        "tree": PolicyTreeLearner(max_depth=2, n_folds=2, random_state=0).fit(problem),
        "dr-bandit": DRPolicyLearner(epochs=20, n_folds=2, random_state=0).fit(problem),
        "effect-greedy": EffectGreedyPolicy(estimator=MetaLearner(kind="T")).fit(problem),
        "arrays": PolicyTreeLearner(max_depth=2, n_folds=2, random_state=0).fit(
            X.to_numpy(), action, reward, mask=allowed, n_actions=len(DRUGS)),
    }  # fmt: skip


@pytest.mark.parametrize("name", ["logged", "tree", "dr-bandit", "effect-greedy", "arrays"])
def test_a_policy_fitted_with_a_mask_refuses_to_predict_without_one(fitted, name):
    policy = fitted[name]
    assert policy.mask_required_
    X, mask = _patients(200, 7)
    with pytest.raises(ValidationError, match="fitted with a safety mask"):
        policy.predict(X.to_numpy())
    with pytest.raises(ValidationError, match="fitted with a safety mask"):
        policy.action_dist(X)
    dist = np.asarray(policy.action_dist(X.to_numpy(), mask))
    assert np.all(dist[~mask.allowed] == 0)
    free = np.asarray(policy.action_dist(X.to_numpy(), "unmasked"))  # stated explicitly: nothing masked
    assert np.allclose(free.sum(axis=1), 1)
    with pytest.raises(ValidationError, match="expected a Mask, a bool array, None or 'unmasked'"):
        policy.action_dist(X.to_numpy(), "none")


def test_the_reproduction_masked_picks_without_the_mask_are_now_refused(fitted):
    """Before: predict(Z) without a mask picked abacavir for HLA-B*57:01 carriers. Now it is an
    error, and with the mask no carrier gets abacavir."""
    X, mask = _patients(600, 3)
    policy = fitted["dr-bandit"]
    free = policy.predict(X.to_numpy(), "unmasked")
    assert (~mask.allowed[np.arange(len(X)), free]).sum() > 0  # what an unmasked call would have given
    safe = policy.predict(X.to_numpy(), mask)
    assert mask.allowed[np.arange(len(X)), safe].all()


def test_a_mask_is_matched_by_drug_name_and_patient_id(fitted):
    policy = fitted["tree"]
    X, mask = _patients(150, 11)
    expected = np.asarray(policy.action_dist(X.to_numpy(), mask))
    shuffled = mask.reindex(patient_ids=mask.patient_ids[::-1], drugs=DRUGS[::-1])
    np.testing.assert_array_equal(np.asarray(policy.action_dist(X, shuffled)), expected)  # by id and name
    np.testing.assert_array_equal(np.asarray(policy.action_dist(X.to_numpy(), shuffled.reindex(mask.patient_ids))), expected)
    other = RULES.evaluate(pd.DataFrame({"patient_id": ["q"], "CYP2C19": ["poor"]}), ("standard_care", "clopidogrel"),
                           "standard_care")  # fmt: skip
    with pytest.raises(ValidationError, match="not the drugs the policy was fitted on"):
        policy.action_dist(X.to_numpy()[:1], other)
    with pytest.raises(ValidationError, match="patient"):
        policy.action_dist(X.iloc[:3].set_axis(["x", "y", "z"]), mask)


def test_a_policy_fitted_without_a_mask_reads_none_as_all_allowed():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 2))
    policy = LoggedPolicy(calibration=None).fit(X, rng.integers(0, 3, 100), n_actions=3)
    assert not policy.mask_required_
    assert np.allclose(policy.action_dist(X).sum(axis=1), 1)


def test_a_contraindicating_rule_on_the_reference_arm_is_refused_with_its_file_and_line():
    table = pd.DataFrame({"patient_id": [1, 2], "egfr": [20.0, 50.0]})
    with pytest.raises(ValidationError, match=r"rule 'renal-metformin-egfr30' \(.*clinical\.yaml:\d+\) contraindicates the reference"):
        RULES.evaluate(table, ("metformin", "insulin"), "metformin")


def test_recommend_and_the_guideline_align_a_mask_by_patient_id():
    from causalrx.effects import EffectEstimate
    from causalrx.policy import GuidelinePolicy
    from causalrx.recommend import recommend

    X, mask = _patients(300, 5)
    ids = mask.patient_ids
    rng = np.random.default_rng(0)
    ite = rng.normal(size=(len(ids), len(DRUGS)))
    ite[:, 0] = 0.0
    ite[:, 2] = 5.0  # abacavir best for everyone: carriers must not get it
    effect = EffectEstimate(ite, ite - 1, ite + 1, ite.mean(0), ite.mean(0), ite.mean(0), "given", DRUGS, patient_ids=ids)
    perm = rng.permutation(ids)
    shuffled = mask.reindex(patient_ids=perm)
    table = recommend(effect, shuffled).table  # the effect's ids align the shuffled mask
    chosen = table[table["tier"] == "recommended"].set_index("patient_id")["drug"]
    assert all(mask.allowed[mask.row(pid), mask.column(drug)] for pid, drug in chosen.items())
    assert (chosen == "abacavir").sum() == mask.allowed[:, 2].sum()
    with pytest.raises(ValidationError, match="patient_ids: they differ from the patient ids the effect carries"):
        recommend(effect, mask, patient_ids=perm)  # the reproduction: 23 of 300 masked drugs recommended before

    fields = pd.DataFrame({"patient_id": ids, "diabetes": True})
    guideline = GuidelinePolicy([{"id": "all", "when": {"field": "diabetes", "is": True}, "prefer": ["abacavir"]}], action_names=DRUGS)
    rows = fields.iloc[rng.permutation(len(ids))]
    picked = guideline.predict(rows, shuffled)
    assert mask.allowed[[mask.row(p) for p in rows["patient_id"]], picked].all()
    blocked = np.ones((len(ids), len(DRUGS)), bool)
    blocked[3, 0] = False
    with pytest.raises(ValidationError, match="reference arm 'standard_care' is masked for 1 patient"):
        guideline.predict(fields, blocked)
