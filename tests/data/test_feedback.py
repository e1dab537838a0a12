"""BanditFeedback and Trajectories validation."""

import numpy as np
import pytest

from causalrx.data import BanditFeedback, Trajectories
from causalrx.exceptions import ValidationError

NAMES = ("ref", "a", "b")


def _fb(**over):
    kw = dict(context=np.zeros((4, 2)), action=np.array([0, 1, 2, 1]), reward=np.array([1.0, 0.0, 2.0, 1.0]), action_names=NAMES)
    kw.update(over)
    return BanditFeedback(**kw)


def test_valid_feedback_and_names_as_actions():
    fb = _fb(action=np.array(["ref", "a", "b", "a"]), pscore=np.array([0.5, 0.2, 1.0, 0.3]), mask=np.ones((4, 3), bool))
    np.testing.assert_array_equal(fb.action, [0, 1, 2, 1])
    sub = fb.subset(fb.action == 1)
    assert sub.n_rounds == 2 and sub.pscore.tolist() == [0.2, 0.3]


@pytest.mark.parametrize(
    "over, message",
    [
        ({"action": np.array([0, 1, np.nan, 1])}, r"action: 1 missing \(NaN\) action"),
        ({"action": np.array(["ref", "a", "zz", "a"])}, r"action: unknown drug name\(s\) \['zz'\]"),
        ({"action": np.array([0, 1, 3, 1])}, r"action: 1 action\(s\) outside 0..2"),
        ({"reward": np.array([1.0, np.nan, 2.0, 1.0])}, r"reward: 1 value\(s\) are NaN or infinite"),
        ({"reward": np.array([1.0, 2.0])}, r"reward: expected shape \(4,\) to match the 4 rows"),
        ({"context": np.zeros((3, 2))}, r"context: has 3 row\(s\) but there are 4 logged decisions"),
        ({"context": np.array([[0, np.nan]] * 4)}, r"context: NaN or infinite values in 1 column\(s\) \(indices \[1\]\)"),
        ({"pscore": np.array([0.5, 0.0, 1.0, 0.3])}, r"pscore: 1 propensity value\(s\) outside \(0, 1\]"),
        ({"pscore": np.array([0.5, 1.2, -0.1, 0.3])}, r"pscore: 2 propensity value\(s\) outside \(0, 1\]"),
        ({"mask": np.array([[1, 1, 1], [0, 0, 0], [1, 0, 0], [0, 0, 0]], bool)}, r"mask: 2 row\(s\) allow no drug at all"),
        ({"mask": np.ones((4, 2), bool)}, r"mask: expected a boolean array of shape \(4, 3\)"),
        ({"mask": np.ones((4, 3))}, r"mask: expected dtype bool"),
        ({"action_names": ("ref",)}, r"action_names: expected at least 2 unique drug names"),
    ],
)
def test_feedback_errors(over, message):
    with pytest.raises(ValidationError, match=message):
        _fb(**over)


def _traj(**over):
    kw = dict(
        observations=np.zeros((5, 2)), action=np.array([0, 1, 1, 2, 0]), reward=np.array([1.0, 2, 3, 4, 5]),
        episode_id=np.array([0, 0, 0, 1, 1]), step=np.array([0, 1, 2, 0, 1]), action_names=NAMES,
    )  # fmt: skip
    kw.update(over)
    return Trajectories(**kw)


def test_trajectories_views():
    t = _traj()
    assert t.n_episodes == 2 and t.episode_starts.tolist() == [0, 3]
    assert t.terminals.tolist() == [0, 0, 1, 0, 1]
    np.testing.assert_allclose(t.returns(), [6.0, 9.0])
    np.testing.assert_allclose(t.returns(0.5), [1 + 1 + 0.75, 4 + 2.5])


@pytest.mark.parametrize(
    "over, message",
    [
        ({"step": np.array([0, 1, 3, 0, 1])}, r"step: 1 row\(s\) break the sequence"),
        ({"step": np.array([1, 2, 3, 0, 1])}, r"step: 3 row\(s\) break the sequence"),
        ({"episode_id": np.array([0, 1, 0, 1, 1]), "step": np.array([0, 0, 0, 1, 2])}, r"episode_id: the rows of each episode must be contiguous"),
        ({"reward": np.array([1.0, 2, np.inf, 4, 5])}, r"reward: 1 value\(s\) are NaN or infinite"),
        ({"episode_id": np.array([0.0, 0, 0, 1, 1])}, r"episode_id: expected an integer array"),
        ({"pscore": np.array([0.5, 0.5, 0.5, 0.5, 2.0])}, r"pscore: 1 propensity value\(s\) outside \(0, 1\]"),
    ],
)
def test_trajectory_errors(over, message):
    with pytest.raises(ValidationError, match=message):
        _traj(**over)
