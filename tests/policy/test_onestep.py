"""One-step learners against a world whose optimal policy is known, and the mask they must respect."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causalrx.effects import DRLearner
from causalrx.exceptions import ValidationError
from causalrx.policy import (
    DRPolicyLearner, EffectGreedyPolicy, GuidelinePolicy, LoggedPolicy, Policy, PolicyTreeLearner, ReferencePolicy,
    UniformPolicy, dr_scores,
)  # fmt: skip

LEARNERS = {
    "effect-greedy": lambda: EffectGreedyPolicy(random_state=0),
    "policy tree": lambda: PolicyTreeLearner(max_depth=2, random_state=0),
    "policy forest": lambda: PolicyTreeLearner(forest=True, max_depth=3, n_estimators=50, random_state=0),
    "DR bandit": lambda: DRPolicyLearner(random_state=0),
}


@pytest.fixture(scope="module")
def fitted(world):
    out = {name: make().fit(world.X, world.action, world.reward, mask=world.mask, n_actions=3) for name, make in LEARNERS.items()}
    out["logged"] = LoggedPolicy().fit(world.X, world.action, n_actions=3)
    return out


@pytest.mark.parametrize("name", ["effect-greedy", "policy tree", "policy forest"])
def test_learners_reach_90_percent_of_the_oracle_improvement(world, fitted, name):
    logged, oracle = world.value(world.propensity), world.value(world.oracle())
    learned = world.value(fitted[name].action_dist(world.X, world.mask))
    assert (learned - logged) / (oracle - logged) >= 0.9


def test_dr_bandit_learner_improves_on_the_logged_policy(world, fitted):
    logged, oracle = world.value(world.propensity), world.value(world.oracle())
    assert (world.value(fitted["DR bandit"].action_dist(world.X, world.mask)) - logged) / (oracle - logged) >= 0.8


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), share=st.floats(0.0, 0.95))
def test_no_policy_puts_mass_on_a_masked_drug(world, fitted, seed, share):
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(world.X), 200, replace=False)
    mask = rng.random((200, 3)) > share
    mask[~mask.any(axis=1), rng.integers(0, 3)] = True  # every row keeps one drug (not necessarily the reference)
    Z = world.X[rows]
    stochastic = DRPolicyLearner(deterministic=False)
    stochastic.__dict__.update({k: v for k, v in fitted["DR bandit"].__dict__.items() if k.endswith("_")})
    for policy in [*fitted.values(), UniformPolicy(3), stochastic]:
        dist = policy.action_dist(Z, mask)
        assert np.all(dist[~mask] == 0)
        np.testing.assert_allclose(dist.sum(axis=1), 1.0)
        assert mask[np.arange(200), policy.predict(Z, mask)].all()


def test_masks_shape_the_training_of_tree_and_bandit(world):
    """Masking drug 1 for everyone with x0 > 0 (where it is best) must change what the tree learns there."""
    mask = world.mask.copy()
    mask[world.X[:, 0] > 0, 1] = False
    tree = PolicyTreeLearner(max_depth=2, random_state=0).fit(world.X, world.action, world.reward, mask=mask, n_actions=3)
    chosen = tree.predict(world.X, mask)
    assert not (chosen == 1)[world.X[:, 0] > 0].any()
    assert world.value(np.eye(3)[chosen]) > world.value(world.propensity)


def test_effect_greedy_margin_prescribes_only_when_confident(world, fitted):
    greedy = fitted["effect-greedy"]
    cautious = EffectGreedyPolicy(random_state=0, margin=0.0)
    cautious.estimator_, cautious.adverse_estimator_, cautious.n_actions_ = greedy.estimator_, None, 3
    est = greedy.effects(world.X)
    picked = cautious.predict(world.X, world.mask)
    active = picked > 0
    assert (est.lower[active, picked[active]] > 0).all()
    assert active.mean() < greedy.predict(world.X, world.mask).__gt__(0).mean()


def test_effect_greedy_combines_efficacy_and_harm_by_the_utility():
    rng = np.random.default_rng(1)
    n = 2000
    X = rng.normal(size=(n, 3))
    action = rng.integers(0, 2, n)
    efficacy = 0.5 * action + rng.normal(0, 0.5, n)  # drug 1 helps by 0.5 ...
    adverse = (rng.random(n) < 0.1 + 0.4 * action * (X[:, 0] > 0)).astype(float)  # ... but harms when x0 > 0
    policy = EffectGreedyPolicy(estimator=DRLearner(final="linear", random_state=0), random_state=0)
    policy.fit(X, action, efficacy, adverse_event=adverse, n_actions=2)  # harm_weight 2: net -0.3 when x0 > 0
    chosen = policy.predict(X)
    assert (chosen[X[:, 0] > 0.5] == 0).mean() > 0.9 and (chosen[X[:, 0] < -0.5] == 1).mean() > 0.9


def test_dr_scores_average_to_the_value_of_each_drug(world):
    gamma = dr_scores(world.X, world.action, world.reward, 3, propensity=world.propensity, random_state=0)
    se = gamma.std(axis=0) / np.sqrt(len(gamma))
    assert np.all(np.abs(gamma.mean(axis=0) - world.mean.mean(axis=0)) < 3 * se)


def test_baselines(world, tmp_path):
    ref = ReferencePolicy(3, reference=0).action_dist(world.X, world.mask)
    assert (ref[:, 0] == 1).all()
    uni = UniformPolicy(3).action_dist(world.X[:3], np.array([[True, True, False], [True, False, False], [True, True, True]]))
    np.testing.assert_allclose(uni, [[0.5, 0.5, 0], [1, 0, 0], [1 / 3] * 3])
    logged = LoggedPolicy().fit(world.X, world.action, n_actions=3)
    proba = logged.action_dist(world.X)
    assert np.abs(proba - world.propensity).mean() < 0.03  # behaviour cloning recovers the clinicians
    assert isinstance(logged, Policy)
    path = logged.save(tmp_path / "logged.pkl")
    np.testing.assert_array_equal(LoggedPolicy.load(path).action_dist(world.X[:50]), proba[:50])
    with pytest.raises(ValidationError, match="holds a LoggedPolicy"):
        PolicyTreeLearner.load(path)


def test_saved_learners_predict_the_same(world, fitted, tmp_path):
    for name, policy in fitted.items():
        loaded = type(policy).load(policy.save(tmp_path / f"{name}.pkl"))
        np.testing.assert_array_equal(loaded.predict(world.X[:100], world.mask[:100]), policy.predict(world.X[:100], world.mask[:100]))


def test_guideline_policy_is_data_and_respects_the_mask():
    import pandas as pd

    patients = pd.DataFrame({"patient_id": ["a", "b", "c", "d"], "diabetes": [True, True, False, False],
                             "egfr": [80.0, 20.0, 60.0, np.nan], "atrial_fibrillation": [False, False, True, False]})  # fmt: skip
    steps = [
        {"id": "dm", "when": {"all": [{"field": "diabetes", "is": True}, {"field": "egfr", "ge": 30}]}, "prefer": ["metformin"]},
        {"id": "af", "when": {"field": "atrial_fibrillation", "is": True}, "prefer": ["warfarin", "metformin"]},
    ]
    names = ("standard_care", "metformin", "warfarin")
    policy = GuidelinePolicy(steps, action_names=names)
    choice, step = policy.choices(patients)
    assert choice.tolist() == [1, 0, 2, 0] and step.tolist() == ["dm", "", "af", ""]
    mask = np.ones((4, 3), bool)
    mask[2, 2] = False  # warfarin unsafe for c: the guideline's second preference
    assert policy.predict(patients, mask).tolist() == [1, 0, 1, 0]
    with pytest.raises(ValidationError, match="not among"):
        GuidelinePolicy([{"prefer": ["aspirin"]}], action_names=names)
    with pytest.raises(ValidationError, match="unknown field"):
        GuidelinePolicy([{"when": {"field": "shoe_size", "gt": 3}, "prefer": ["metformin"]}], action_names=names)


def test_bad_inputs_are_named(world):
    with pytest.raises(ValidationError, match="column"):
        bad = world.X.copy()
        bad[3, 2] = np.nan
        EffectGreedyPolicy().fit(bad, world.action, world.reward)
    with pytest.raises(ValidationError, match="allow no drug"):
        UniformPolicy(3).action_dist(world.X[:2], np.zeros((2, 3), bool))
    with pytest.raises(ValidationError, match="call fit"):
        PolicyTreeLearner().action_dist(world.X)
    with pytest.raises(ValidationError, match="reward"):
        DRPolicyLearner().fit(world.X, world.action, world.reward[:-1])
    tree = PolicyTreeLearner(max_depth=1, random_state=0).fit(world.X, world.action, world.reward, mask=world.mask, n_actions=3)
    with pytest.raises(ValidationError, match=rf"X: PolicyTreeLearner was fitted on {world.X.shape[1]} covariate columns, got"):
        tree.action_dist(world.X[:, :-1], world.mask)
