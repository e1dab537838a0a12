"""One call: cross-fit the learners, evaluate every policy, tabulate with the truth and regret."""

import warnings

import numpy as np
import pytest

from causalrx.compare import CrossFittedPolicy, compare
from causalrx.data.feedback import BanditFeedback, Trajectories
from causalrx.exceptions import ValidationError
from causalrx.ope import DR, IPS, SNIPS
from causalrx.ope.fqe import FQE
from causalrx.policy import LoggedPolicy, PolicyTreeLearner, ReferencePolicy, UniformPolicy
from tests.policy.conftest import make_world


def test_compare_cross_fits_evaluates_and_reports_truth(tmp_path):
    w = make_world(n=2000, seed=3)
    logged = BanditFeedback(context=w.X, action=w.action, reward=w.reward, action_names=("ref", "d1", "d2"),
                            pscore=w.propensity[np.arange(len(w.X)), w.action], mask=w.mask)  # fmt: skip
    policies = {"logged (cloned)": LoggedPolicy(), "uniform": UniformPolicy(3), "reference": ReferencePolicy(3, reference=0),
                "policy tree": PolicyTreeLearner(max_depth=2, random_state=0)}  # fmt: skip
    oracle = w.value(w.oracle())
    result = compare(logged, policies, estimators=[IPS(), SNIPS(), DR()], oracle_value=oracle, plot_path=tmp_path / "forest.png",
                     true_value=lambda name, p: w.value(p.action_dist(w.X, w.mask)))  # fmt: skip
    table = result.table
    assert set(table["policy"]) == set(policies) and len(table) == 12
    assert (table["mask_violations"] == 0).all()
    assert isinstance(result.policies["policy tree"], CrossFittedPolicy)  # learned on the other fold only
    assert table.loc[table["policy"] == "policy tree", "fit_seconds"].iloc[0] > 0
    dr = table[table["estimator"] == "DR"].set_index("policy")
    assert dr["covered"].mean() >= 0.75
    assert dr.loc["policy tree", "true_value"] > dr.loc["logged (cloned)", "true_value"]
    np.testing.assert_allclose(dr["regret"], oracle - dr["true_value"])
    assert (tmp_path / "forest.png").stat().st_size > 10_000


def test_given_rewards_replace_the_reward_model_and_match_the_dr_table():
    from causalrx.ope import RewardModel
    from causalrx.policy.base import dr_table

    w = make_world(n=800, seed=5)
    pscore = w.propensity[np.arange(len(w.X)), w.action]
    logged = BanditFeedback(context=w.X, action=w.action, reward=w.reward, action_names=("ref", "d1", "d2"), pscore=pscore, mask=w.mask)
    policies = {"uniform": UniformPolicy(3), "reference": ReferencePolicy(3, reference=0)}
    own = compare(logged, policies, estimators=[DR()])
    q = RewardModel(random_state=0).fit_predict(logged)  # compare's own model, same seed
    given = compare(logged, policies, estimators=[DR()], estimated_rewards=q)
    np.testing.assert_allclose(own.rewards, q) and np.testing.assert_allclose(given.rewards, q)
    np.testing.assert_allclose(given.table["value"], own.table["value"])
    gamma = dr_table(q, w.action, w.reward, pscore)  # the DR value is the mean of the policy's doubly robust scores
    assert given.table.set_index("policy").loc["reference", "value"] == pytest.approx(gamma[:, 0].mean())
    uniform = w.mask / w.mask.sum(axis=1, keepdims=True)
    assert given.table.set_index("policy").loc["uniform", "value"] == pytest.approx((uniform * gamma).sum(axis=1).mean())
    with pytest.raises(ValidationError, match=r"estimated_rewards: expected finite values of shape \(800, 3\)"):
        compare(logged, policies, estimators=[DR()], estimated_rewards=q[:5])


def test_compare_errors():
    w = make_world(n=200)
    logged = BanditFeedback(context=w.X, action=w.action, reward=w.reward, action_names=("ref", "d1", "d2"))
    with pytest.raises(ValidationError, match="at least one"):
        compare(logged, {})
    with pytest.raises(ValidationError, match="BanditFeedback or Trajectories"):
        compare(w.X, {"u": UniformPolicy(3)})


def test_a_fitted_learner_is_used_as_given_with_a_warning():
    w = make_world(n=600, seed=4)
    logged = BanditFeedback(context=w.X, action=w.action, reward=w.reward, action_names=("ref", "d1", "d2"),
                            pscore=w.propensity[np.arange(len(w.X)), w.action], mask=w.mask)  # fmt: skip
    tree = PolicyTreeLearner(max_depth=2, random_state=0).fit(w.X, w.action, w.reward, mask=w.mask, n_actions=3)
    with pytest.warns(UserWarning, match=r"policies\['tree'\]: a learner passed already fitted"):
        result = compare(logged, {"tree": tree, "uniform": UniformPolicy(3)}, estimators=[IPS()])
    assert result.policies["tree"] is tree  # evaluated as given, not refitted
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # unfitted learners and baselines raise no such warning
        compare(logged, {"tree": PolicyTreeLearner(max_depth=2, random_state=0), "uniform": UniformPolicy(3)}, estimators=[IPS()])


def test_compare_on_episodes_uses_the_given_fqe_settings_and_scores_every_policy(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    n = 300  # two visits; drug 1 pays 1 at each, drug 0 pays 0; clinicians toss a coin
    action = rng.integers(0, 2, 2 * n)
    logged = Trajectories(observations=np.column_stack([np.tile([0.0, 1.0], n), rng.normal(size=2 * n)]), action=action,
                          reward=action.astype(float), episode_id=np.repeat(np.arange(n), 2), step=np.tile([0, 1], n),
                          action_names=("a0", "a1"), pscore=np.full(2 * n, 0.5))  # fmt: skip
    fqe = FQE(n_steps=150, n_refits=2, device="cpu", random_state=0)
    result = compare(logged, {"uniform": UniformPolicy(2), "always a1": ReferencePolicy(2, reference=1)}, fqe=fqe,
                     true_value=lambda name, p: {"uniform": 1.0, "always a1": 2.0}[name])  # fmt: skip
    table = result.table.set_index(["policy", "estimator"])
    assert {"PDIS", "WPDIS", "SequentialDR", "WDR", "FQE"} <= set(table.index.get_level_values("estimator"))
    assert "2 bootstrap refits" in table.loc[("uniform", "FQE"), "interval"]  # the settings given, on a copy
    assert fqe.n_refits == 2 and not hasattr(fqe, "algo_")
    assert table.loc[("always a1", "WPDIS"), "value"] == pytest.approx(2.0)  # every a1 episode pays 2
    assert table.xs("WDR", level="estimator")["covered"].all()
