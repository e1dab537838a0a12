"""A one-step world whose optimal policy is known, with a confounded logger and a safety mask."""

from dataclasses import dataclass

import numpy as np
import pytest
from scipy.special import softmax


@dataclass
class World:
    X: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    mean: np.ndarray  # E[reward | x, a], (n, k)
    propensity: np.ndarray  # logging policy, (n, k)
    mask: np.ndarray

    def value(self, dist) -> float:
        return float((dist * self.mean).sum(axis=1).mean())

    def oracle(self) -> np.ndarray:
        best = np.where(self.mask, self.mean, -np.inf).argmax(axis=1)
        return np.eye(self.mean.shape[1])[best]


def make_world(n=3000, k=3, masked_share=0.2, seed=0) -> World:
    """Drug 1 helps when x0 > 0, drug 2 when x1 > 0 (by 1 unit, else harms by 0.5); clinicians
    lean on x2 and x0 (confounding); a random share of non-reference cells is masked."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    mean = np.zeros((n, k))
    mean[:, 0] = 0.5 * X[:, 2]
    for a in range(1, k):
        mean[:, a] = mean[:, 0] + np.where(X[:, (a - 1) % 2] > 0, 1.0, -0.5)
    logits = np.column_stack([np.zeros(n)] + [0.8 * X[:, 2] + 0.5 * X[:, 0] * (a == 1) for a in range(1, k)])
    propensity = softmax(logits, axis=1)
    action = (propensity.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)
    reward = mean[np.arange(n), action] + rng.normal(0, 1, n)
    mask = rng.random((n, k)) > masked_share
    mask[:, 0] = True
    return World(X, action, reward, mean, propensity, mask)


@pytest.fixture(scope="session")
def world() -> World:
    return make_world()
