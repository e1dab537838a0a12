"""CATE model selection without ground truth ranks candidates as their true PEHE does."""

import numpy as np
import pytest

from causalrx.effects import DRLearner, MetaLearner
from causalrx.effects.select import CateSelector
from causalrx.exceptions import ValidationError
from tests.effects.test_estimators import _data


def _pehe(ite, tau):
    return np.sqrt(np.mean((ite[:, 1:] - tau[:, 1:]) ** 2))


@pytest.fixture(scope="module")
def problem():
    return _data(n=2000, seed=4)


def _candidates():
    # uncentred, so that the three have clearly different biases (centred, S is the T-learner plus a small correction)
    return {"DR-linear": DRLearner(final="linear", baseline="none", random_state=0),
            "S": MetaLearner(kind="S", baseline="none", random_state=0), "T": MetaLearner(kind="T", random_state=0)}  # fmt: skip


def test_best_mode_picks_the_candidate_with_lowest_true_pehe(problem):
    X, a, y, tau, _ = problem
    fitted = {name: c.fit(X, a, y).effect(X).ite for name, c in _candidates().items()}
    truth = {name: _pehe(ite, tau) for name, ite in fitted.items()}
    sel = CateSelector(candidates=_candidates(), mode="best", random_state=0).fit(X, a, y)
    assert sel.scores_.candidate.iloc[0] == min(truth, key=truth.get)
    # DR-loss ranking agrees with the true ranking
    assert list(sel.scores_.candidate) == sorted(truth, key=truth.get)
    chosen = sel.effect(X).ite
    for j, drug in enumerate(sel.action_names_[1:], start=1):  # per drug, the candidate with all the weight
        best = sel.scores_.set_index("candidate")[f"weight_{drug}"].idxmax()
        np.testing.assert_allclose(chosen[:, j], fitted[best][:, j], rtol=1e-9)
    assert _pehe(chosen, tau) <= 1.05 * min(truth.values())
    lower = sel.effect(X).lower
    for j, drug in enumerate(sel.action_names_[1:], start=1):  # intervals where the chosen candidate gives them
        best = sel.scores_.set_index("candidate")[f"weight_{drug}"].idxmax()
        assert np.isfinite(lower[:, j]).all() == (best == "DR-linear")


def test_stack_is_no_worse_than_the_best_candidate(problem):
    X, a, y, tau, _ = problem
    sel = CateSelector(candidates=_candidates(), mode="stack", random_state=0).fit(X, a, y)
    weights = sel.scores_.filter(like="weight_")
    np.testing.assert_allclose(weights.sum(axis=0), 1.0)
    assert (weights.to_numpy() >= 0).all()
    best = min(_pehe(c.fit(X, a, y).effect(X).ite, tau) for c in _candidates().values())
    assert _pehe(sel.effect(X).ite, tau) < 1.1 * best
    X_new, *_ = _data(n=100, seed=11)
    assert sel.effect(X_new).ite.shape == (100, 3)


def test_screened_stack_drops_clearly_worse_candidates(problem):
    from sklearn.tree import DecisionTreeRegressor

    X, a, y, tau, _ = problem
    cands = {**_candidates(), "T-deep-tree": MetaLearner(kind="T", model=DecisionTreeRegressor(random_state=0), random_state=0)}
    sel = CateSelector(candidates=cands, mode="stack", screen=2.0, random_state=0).fit(X, a, y)
    weights = sel.scores_.set_index("candidate").filter(like="weight_")
    assert (weights.loc["T-deep-tree"] == 0).all()  # unpruned trees: far worse held-out DR loss
    np.testing.assert_allclose(weights.sum(axis=0), 1.0)
    best = min(_pehe(c.fit(X, a, y).effect(X).ite, tau) for c in _candidates().values())
    assert _pehe(sel.effect(X).ite, tau) < 1.1 * best
    # screen = 0 keeps only each drug's best candidate: the stack becomes the "best" mode
    zero = CateSelector(candidates=_candidates(), mode="stack", screen=0, random_state=0).fit(X, a, y)
    chosen = CateSelector(candidates=_candidates(), mode="best", random_state=0).fit(X, a, y)
    np.testing.assert_allclose(zero.effect(X).ite, chosen.effect(X).ite)


def test_selector_errors():
    with pytest.raises(ValidationError, match="candidates: expected a non-empty dict"):
        CateSelector(candidates={}).fit(np.zeros((10, 2)), np.r_[np.zeros(5, int), np.ones(5, int)], np.zeros(10))
    with pytest.raises(ValidationError, match="mode: expected 'stack' or 'best'"):
        CateSelector(candidates=_candidates(), mode="vote").fit(np.zeros((10, 2)), np.r_[np.zeros(5, int), np.ones(5, int)], np.zeros(10))
    with pytest.raises(ValidationError, match="screen: expected a non-negative finite number of standard errors, or None"):
        CateSelector(candidates=_candidates(), screen=-1).fit(np.zeros((10, 2)), np.r_[np.zeros(5, int), np.ones(5, int)], np.zeros(10))
    with pytest.raises(ValidationError, match="call fit before effect"):
        CateSelector(candidates=_candidates()).effect(np.zeros((2, 4)))
