"""One call: cross-fit the learners, evaluate every policy, tabulate with the truth and regret."""

import warnings

import numpy as np
import pytest

from causalrx.compare import CrossFittedPolicy, compare
from causalrx.data.feedback import BanditFeedback
from causalrx.exceptions import ValidationError
from causalrx.ope import DR, IPS, SNIPS
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
