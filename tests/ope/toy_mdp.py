"""A two-state, two-action, finite-horizon MDP whose policy values are known exactly."""

import numpy as np

from causalrx.data.feedback import Trajectories

P_FOLLOW = 0.8  # the next state equals the action with this probability, else a fair coin


def step_reward(s, a):
    return (a == s).astype(float) + 0.5 * s


def simulate(n_episodes, horizon, behaviour, rng, noise=0.3):
    """Episodes under ``behaviour`` (2,) = P(a=1 | s); observation = [step, s]."""
    s = rng.integers(0, 2, n_episodes)
    obs, act, rew, ps = [], [], [], []
    for t in range(horizon):
        p1 = behaviour[s]
        a = (rng.random(n_episodes) < p1).astype(int)
        obs.append(np.column_stack([np.full(n_episodes, t), s]))
        act.append(a)
        rew.append(step_reward(s, a) + rng.normal(0, noise, n_episodes))
        ps.append(np.where(a == 1, p1, 1 - p1))
        s = np.where(rng.random(n_episodes) < P_FOLLOW, a, rng.integers(0, 2, n_episodes))
    stack = lambda xs: np.stack(xs, axis=1).reshape(n_episodes * horizon, *xs[0].shape[1:])  # noqa: E731
    return Trajectories(
        observations=stack(obs).astype(float), action=stack(act), reward=stack(rew),
        episode_id=np.repeat(np.arange(n_episodes), horizon), step=np.tile(np.arange(horizon), n_episodes),
        action_names=("a0", "a1"), pscore=stack(ps),
    )  # fmt: skip


def true_value(target, horizon, gamma=1.0):
    """Exact value of the policy ``target`` (2,) = P(a=1 | s) from a uniform initial state."""
    v = np.zeros(2)
    for _ in range(horizon):
        q = np.zeros((2, 2))
        for s in range(2):
            for a in range(2):
                nxt = P_FOLLOW * np.eye(2)[a] + (1 - P_FOLLOW) * 0.5
                q[s, a] = step_reward(np.array(s), np.array(a)) + gamma * nxt @ v
        v = (1 - target) * q[:, 0] + target * q[:, 1]
    return float(v.mean())


def target_dist(traj, target):
    p1 = target[traj.observations[:, 1].astype(int)]
    return np.column_stack([1 - p1, p1])
