"""Neural CATE learners (TARNet, CFR, DragonNet) recover known multi-arm effects on CPU."""

import pickle

import numpy as np
import pandas as pd
import pytest

from causalrx.effects import CateSelector, MetaLearner, NeuralCATE
from causalrx.exceptions import ValidationError

TRAIN = {"device": "cpu", "epochs": 120, "patience": 15}


def _data(n=1200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    logits = np.c_[np.zeros(n), 0.5 * X[:, 0], -0.5 * X[:, 1]]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    a = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    tau = np.c_[np.zeros(n), 1 + X[:, 2], -0.5 + np.sin(X[:, 3])]
    y = X[:, 0] + 0.5 * X[:, 1] ** 2 + tau[np.arange(n), a] + rng.normal(0, 0.5, n)
    return X, a, y, tau


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.mark.parametrize("kind, ipm", [("tarnet", "mmd"), ("cfr", "mmd"), ("cfr", "wasserstein"), ("dragonnet", "mmd")])
def test_neural_learners_recover_multi_arm_effects(data, kind, ipm):
    X, a, y, tau = data
    model = NeuralCATE(kind=kind, ipm=ipm, n_ensemble=2, train=TRAIN, random_state=0).fit(X, a, y, action_names=("ref", "b", "c"))
    X_new, _, _, tau_new = _data(400, seed=9)  # out of sample
    effect = model.effect(X_new)
    for j in (1, 2):
        pehe = np.sqrt(np.mean((effect.ite[:, j] - tau_new[:, j]) ** 2))
        assert pehe < 0.6 * tau_new[:, j].std(), (kind, j, pehe)  # beats the constant true-ATE predictor by far
        assert np.corrcoef(effect.ite[:, j], tau_new[:, j])[0, 1] > 0.85
    assert (effect.ite[:, 0] == 0).all() and (effect.lower[:, 1:] <= effect.upper[:, 1:]).all()
    assert np.allclose(model.point_effect(X_new), effect.ite)
    assert all(h["best_epoch"] >= 0 and h["device"] == "cpu" for h in model.histories_)


def test_same_seed_same_effects_and_the_model_pickles(data):
    X, a, y, _ = data
    first = NeuralCATE(kind="tarnet", n_ensemble=1, train={**TRAIN, "epochs": 10}, random_state=3).fit(X, a, y)
    again = NeuralCATE(kind="tarnet", n_ensemble=1, train={**TRAIN, "epochs": 10}, random_state=3).fit(X, a, y)
    np.testing.assert_array_equal(first.point_effect(X), again.point_effect(X))
    loaded = pickle.loads(pickle.dumps(first))
    np.testing.assert_array_equal(loaded.point_effect(X), first.point_effect(X))


def test_a_neural_learner_is_a_selector_candidate_and_takes_labelled_data(data):
    X, a, y, tau = data
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(5)], index=pd.Index([f"p{i}" for i in range(len(X))], name="patient_id"))
    selector = CateSelector(candidates={"TARNet": NeuralCATE(n_ensemble=1, train={**TRAIN, "epochs": 60}, random_state=0),
                                        "T": MetaLearner(kind="T", random_state=0)}, n_folds=2, random_state=0)  # fmt: skip
    selector.fit(frame, a, y)
    assert set(selector.scores_["candidate"]) == {"TARNet", "T"}
    assert list(selector.effect(frame).patient_ids[:2]) == ["p0", "p1"]


def test_bad_settings_are_named(data):
    X, a, y, _ = data
    for kwargs, message in [({"kind": "bart"}, "kind: expected one of"), ({"ipm": "kl"}, "ipm: expected one of"),
                            ({"n_ensemble": 0}, "n_ensemble: expected a positive integer"),
                            ({"train": {"epochz": 3}}, "train: .*TrainConfig")]:  # fmt: skip
        with pytest.raises(ValidationError, match=message):
            NeuralCATE(**kwargs).fit(X[:50], a[:50], y[:50])


def test_a_column_constant_in_training_does_not_blow_up_new_patients():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    X[:, 2] = 0.0  # e.g. a rare indicator nobody in the training cohort has
    t = rng.integers(0, 2, 300)
    y = X[:, 0] + t + rng.normal(0, 0.3, 300)
    est = NeuralCATE(n_ensemble=1, train={**TRAIN, "epochs": 20}, random_state=0).fit(X, t, y)
    X_new = X[:5].copy()
    X_new[:, 2] = 1.0
    shifted, plain = est.point_effect(X_new)[:, 1], est.point_effect(X[:5])[:, 1]
    assert np.abs(shifted - plain).max() < 1.0  # one unit on an unseen column, not 1e8 standardised units
