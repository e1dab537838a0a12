"""The best single drug where allowed: chosen by DR estimates without ground truth, never a masked drug."""

import numpy as np
import pytest

from causalrx.exceptions import ValidationError
from causalrx.policy import BestSingleDrugPolicy
from tests.policy.conftest import make_world


def test_the_best_single_drug_is_found_by_its_dr_value_and_the_mask_is_kept():
    w = make_world(n=4000, seed=5)
    w.mean[:, 2] += 0.3  # drug 2 now pays 0.3 more than drug 1 on average
    w.reward[w.action == 2] += 0.3
    policy = BestSingleDrugPolicy(random_state=0).fit(w.X, w.action, w.reward, mask=w.mask, n_actions=3)
    truth = []
    for a in range(3):  # the true value of "drug a where allowed, else the reference arm"
        dist = np.zeros_like(w.mean)
        dist[:, a] = w.mask[:, a]
        dist[:, 0] += ~w.mask[:, a]
        truth.append(w.value(dist))
    assert policy.drug_index_ == int(np.argmax(truth)) == 2
    np.testing.assert_allclose(policy.values_, truth, atol=0.1)
    dist = policy.action_dist(w.X, w.mask)
    assert (dist[~w.mask] == 0).all() and np.allclose(dist.sum(axis=1), 1)
    np.testing.assert_array_equal(dist[:, 2], w.mask[:, 2])  # drug 2 wherever allowed, the reference arm elsewhere
    np.testing.assert_array_equal(dist[:, 0], ~w.mask[:, 2])
    assert w.value(dist) == pytest.approx(truth[2])


def test_best_single_drug_errors():
    with pytest.raises(ValidationError, match="call fit"):
        BestSingleDrugPolicy().action_dist(np.zeros((2, 3)))
