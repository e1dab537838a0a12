"""Offline contextual-bandit learner that maximises the doubly robust value directly.

A softmax policy ``pi_theta(a | x)`` (linear, or a small MLP) whose logits are ``-inf`` on
masked drugs is trained by gradient ascent on the DR objective
``mean_i sum_a pi_theta(a | x_i) Gamma[i, a]`` (:func:`~causalrx.policy.base.dr_scores`),
with weight decay and an optional entropy bonus. Masked drugs get probability exactly zero
in training and in prediction.

References
----------
Dudik M, Langford J, Li L. Doubly robust policy evaluation and learning. ICML 2011.
Athey S, Wager S. Policy learning with observational data. Econometrica 2021;89(1):133-161.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from causalrx.exceptions import ValidationError, seed_from
from causalrx.policy.base import PolicyBase, as_covariates, as_mask, masked_dr_inputs
from causalrx.safety.scores import masked_greedy


@dataclass(repr=False, eq=False)
class DRPolicyLearner(PolicyBase):
    """Softmax policy trained on cross-fitted DR scores (PyTorch, CPU).

    Parameters
    ----------
    hidden : int
        Width of one hidden layer; 0 gives a linear (multinomial-logit) policy.
    epochs : int
        Full-batch Adam steps.
    learning_rate, weight_decay : float
    entropy : float
        Weight of the entropy bonus (keeps the policy stochastic while it learns).
    deterministic : bool
        Predict the most probable allowed drug (True) or the softmax distribution.
    n_folds : int
        Cross-fitting folds of the DR scores.
    random_state : int, optional
        Seed of the cross-fitting and of the network's initialisation; ``None`` draws a
        fresh seed (results then differ between runs).
    """

    hidden: int = 32
    epochs: int = 300
    learning_rate: float = 0.01
    weight_decay: float = 1e-3
    entropy: float = 0.0
    deterministic: bool = True
    n_folds: int = 5
    random_state: int | None = None

    def fit(self, X, action, reward, *, mask=None, propensity=None, n_actions: int | None = None):
        import torch

        if self.epochs < 1 or self.hidden < 0:
            raise ValidationError(f"epochs >= 1 and hidden >= 0 expected, got epochs={self.epochs}, hidden={self.hidden}")
        X, allowed, gamma, k = masked_dr_inputs(X, action, reward, mask, propensity, n_actions, n_folds=self.n_folds,
                                                random_state=self.random_state)  # fmt: skip
        self.mean_, self.scale_ = X.mean(axis=0), X.std(axis=0) + 1e-8
        torch.manual_seed(seed_from(self.random_state))
        d = X.shape[1]
        layers = [torch.nn.Linear(d, k)] if self.hidden == 0 else [
            torch.nn.Linear(d, self.hidden), torch.nn.ReLU(), torch.nn.Linear(self.hidden, k)]  # fmt: skip
        net = torch.nn.Sequential(*layers)
        x = torch.as_tensor((X - self.mean_) / self.scale_, dtype=torch.float32)
        g = torch.as_tensor(np.where(allowed, gamma, 0.0) / (np.abs(gamma).mean() + 1e-12), dtype=torch.float32)
        m = torch.as_tensor(allowed)
        optim = torch.optim.Adam(net.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        self.history_ = []
        for _ in range(self.epochs):
            logp = torch.log_softmax(net(x).masked_fill(~m, float("-inf")), dim=1)
            p = logp.exp()
            value = (p * g).sum(dim=1).mean()
            ent = -(p * logp.masked_fill(~m, 0.0)).sum(dim=1).mean()
            loss = -(value + self.entropy * ent)
            optim.zero_grad()
            loss.backward()
            optim.step()
            self.history_.append(float(value.detach()))
        self.net_ = net.eval()
        self.n_actions_ = k
        return self

    def logits(self, X) -> np.ndarray:
        import torch

        self._require_fit()
        x = torch.as_tensor((as_covariates(X) - self.mean_) / self.scale_, dtype=torch.float32)
        with torch.no_grad():
            return self.net_(x).double().numpy()

    def action_dist(self, X, mask=None) -> np.ndarray:
        from causalrx.safety.scores import masked_softmax

        logits = self.logits(X)
        allowed = as_mask(mask, *logits.shape)
        return masked_greedy(logits, allowed) if self.deterministic else masked_softmax(logits, allowed)
