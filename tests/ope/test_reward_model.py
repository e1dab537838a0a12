import numpy as np
from sklearn.neighbors import KNeighborsRegressor

from causalrx.data import BanditFeedback
from causalrx.ope import RewardModel


def _fb(n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    a = rng.integers(0, 3, n)
    r = x[:, 0] * (a == 1) + 0.5 * a + rng.normal(0, 1, n)
    return BanditFeedback(context=x, action=a, reward=r, action_names=("a", "b", "c"))


def test_predictions_are_out_of_fold():
    fb = _fb()
    # a 1-nearest-neighbour model reproduces its training rewards exactly; out of fold it cannot
    for per_action in (False, True):
        q = RewardModel(KNeighborsRegressor(n_neighbors=1), per_action=per_action, random_state=0).fit_predict(fb)
        q_logged = q[np.arange(fb.n_rounds), fb.action]
        assert np.mean(np.isclose(q_logged, fb.reward)) < 0.05
        assert q.shape == (fb.n_rounds, 3)


def test_default_model_learns_the_reward_surface():
    fb = _fb(n=4000, seed=1)
    q = RewardModel(random_state=0).fit_predict(fb)
    truth = np.column_stack([0 * fb.context[:, 0], fb.context[:, 0] + 0.5, 1.0 + 0 * fb.context[:, 0]])
    assert np.sqrt(np.mean((q - truth) ** 2)) < 0.35
