"""Neural CATE learners for k drugs: TARNet, CFR (an IPM penalty) and DragonNet (a propensity
head and targeted regularisation), trained with the encoders' loop (CPU or CUDA).

One network: a shared representation ``phi(x)`` (an MLP) and one outcome head per drug,
``q(x, a) = h_a(phi(x))``; the effect of drug ``a`` is ``q(x, a) - q(x, reference)``.

- **TARNet** (Shalit et al. 2017): the factual squared error only.
- **CFR** (``ipm="mmd"`` or ``"wasserstein"``): plus ``ipm_weight`` times the distance between
  the representation of each drug's patients and the reference arm's (linear MMD: the
  squared distance of the means; Wasserstein: an entropic Sinkhorn approximation), so the
  heads extrapolate from balanced representations.
- **DragonNet** (Shi et al. 2019): plus a softmax propensity head on ``phi`` (cross-entropy,
  weight ``propensity_weight``) and targeted regularisation: per drug a scalar
  ``epsilon_a`` and the loss ``(y - q(x, A) - sum_a epsilon_a 1[A=a] / g_a(x))^2`` with
  weight ``targeted_weight``, the multi-arm form of the paper's TMLE-inspired term.

Covariates and outcomes are standardised inside; early stopping is on the factual loss of
held-out training patients (``TrainConfig.validation_fraction``); ``n_ensemble`` networks
(different seeds and validation splits) are averaged, and their spread gives
``lower``/``upper`` as ``mean -/+ z * sd``: an ensemble spread, not a calibrated
confidence interval (the ATE interval is NaN). Only the networks' weights and the scalers
are kept, never a patient row.

References
----------
Shalit U, Johansson FD, Sontag D. Estimating individual treatment effect: generalization
bounds and algorithms. ICML 2017. Shi C, Blei DM, Veitch V. Adapting neural networks for
the estimation of treatment effects. NeurIPS 2019.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import ndtri
from torch import nn

from causalrx.effects.estimate import check_effect_inputs
from causalrx.effects.learners import FittedEffects
from causalrx.exceptions import ValidationError, seed_from

KINDS = ("tarnet", "cfr", "dragonnet")
IPMS = ("mmd", "wasserstein")


class _CateNet(nn.Module):
    def __init__(self, d: int, k: int, hidden: int, head_hidden: int, dropout: float, propensity: bool):
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(d, hidden), nn.ELU(), nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ELU(),
                                 nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ELU())  # fmt: skip
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden, head_hidden), nn.ELU(), nn.Dropout(dropout), nn.Linear(head_hidden, head_hidden), nn.ELU(),
                          nn.Linear(head_hidden, 1)) for _ in range(k))  # fmt: skip
        self.propensity = nn.Linear(hidden, k) if propensity else None
        self.epsilon = nn.Parameter(torch.zeros(k)) if propensity else None

    def forward(self, batch):
        rep = self.phi(batch["x"])
        q = torch.cat([head(rep) for head in self.heads], dim=1)
        logits = self.propensity(rep) if self.propensity is not None else None
        return rep, q, logits


def _mmd(rep, action, k):
    """Sum over drugs a > 0 of the squared distance between the mean representation of drug a and the reference arm's."""
    ref = rep[action == 0]
    if len(ref) == 0:
        return rep.sum() * 0.0
    total = rep.sum() * 0.0
    for a in range(1, k):
        arm = rep[action == a]
        if len(arm):
            total = total + ((arm.mean(0) - ref.mean(0)) ** 2).sum()
    return total


def _sinkhorn(x, y, epsilon: float = 0.1, iterations: int = 30):
    """Entropic optimal-transport cost between two point clouds with uniform weights (Cuturi 2013)."""
    cost = torch.cdist(x, y) ** 2
    scale = cost.detach().mean().clamp(min=1e-6)
    c = cost / scale
    log_a = torch.full((len(x),), -np.log(len(x)), device=x.device)
    log_b = torch.full((len(y),), -np.log(len(y)), device=x.device)
    f, g = torch.zeros_like(log_a), torch.zeros_like(log_b)
    for _ in range(iterations):
        f = -epsilon * torch.logsumexp((g[None, :] - c) / epsilon + log_b[None, :], dim=1)
        g = -epsilon * torch.logsumexp((f[:, None] - c) / epsilon + log_a[:, None], dim=0)
    plan = torch.exp((f[:, None] + g[None, :] - c) / epsilon + log_a[:, None] + log_b[None, :])
    return (plan * cost).sum()


def _wasserstein(rep, action, k):
    ref = rep[action == 0]
    total = rep.sum() * 0.0
    if len(ref) < 2:
        return total
    for a in range(1, k):
        arm = rep[action == a]
        if len(arm) >= 2:
            total = total + _sinkhorn(arm, ref)
    return total


@dataclass(kw_only=True, repr=False, eq=False)
class NeuralCATE(FittedEffects):
    """TARNet, CFR or DragonNet for k drugs (see the module docstring).

    Parameters
    ----------
    kind : {"tarnet", "cfr", "dragonnet"}
    ipm : {"mmd", "wasserstein"}
        CFR's distance between representations.
    ipm_weight, propensity_weight, targeted_weight : float
        Weights of the IPM term (CFR), the propensity cross-entropy and the targeted
        regularisation (DragonNet).
    hidden, head_hidden : int
        Widths of the representation and of each drug's head.
    dropout : float
    n_ensemble : int
        Networks averaged (their spread gives ``lower``/``upper``).
    train : dict
        :class:`~causalrx.encoders.training.TrainConfig` settings, e.g. ``{"device":
        "cuda", "epochs": 300}``; defaults suit a few hundred to tens of thousands of patients.
    random_state : int, optional
    alpha : float
        ``lower``/``upper`` are mean -/+ ``z_(1-alpha/2)`` ensemble standard deviations.
    """

    kind: str = "tarnet"
    ipm: str = "mmd"
    ipm_weight: float = 0.3
    propensity_weight: float = 1.0
    targeted_weight: float = 1.0
    hidden: int = 128
    head_hidden: int = 64
    dropout: float = 0.1
    n_ensemble: int = 3
    train: dict = field(default_factory=dict)
    random_state: int | None = None
    alpha: float = 0.05

    @property
    def name(self) -> str:
        label = {"tarnet": "TARNet", "cfr": f"CFR ({self.ipm})", "dragonnet": "DragonNet"}.get(self.kind, self.kind)
        return f"{label} x{self.n_ensemble}"

    def _config(self):
        from causalrx.encoders.training import TrainConfig

        settings = {"epochs": 300, "batch_size": 128, "learning_rate": 1e-3, "weight_decay": 1e-4, "patience": 20,
                    "validation_fraction": 0.25, **(self.train or {})}  # fmt: skip
        try:
            return TrainConfig(**settings)
        except TypeError as err:
            raise ValidationError(f"train: {err}; keys are the fields of causalrx.encoders.training.TrainConfig") from err

    def _check(self) -> None:
        if self.kind not in KINDS:
            raise ValidationError(f"kind: expected one of {list(KINDS)}, got {self.kind!r}")
        if self.ipm not in IPMS:
            raise ValidationError(f"ipm: expected one of {list(IPMS)}, got {self.ipm!r}")
        if isinstance(self.n_ensemble, bool) or not isinstance(self.n_ensemble, (int, np.integer)) or self.n_ensemble < 1:
            raise ValidationError(f"n_ensemble: expected a positive integer, got {self.n_ensemble!r}")
        for name in ("ipm_weight", "propensity_weight", "targeted_weight", "dropout"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value) or value < 0:
                raise ValidationError(f"{name}: expected a non-negative number, got {value!r}")

    def _loss(self, k: int):
        kind, ipm = self.kind, self.ipm

        def loss(net, batch, target):
            rep, q, logits = net(batch)
            action, y = target["action"], target["y"]
            factual = q.gather(1, action[:, None])[:, 0].float()
            mse = ((y - factual) ** 2).mean()
            total = mse
            if kind == "cfr" and self.ipm_weight > 0:
                distance = _mmd(rep.float(), action, k) if ipm == "mmd" else _wasserstein(rep.float(), action, k)
                total = total + self.ipm_weight * distance
            if kind == "dragonnet":
                total = total + self.propensity_weight * F.cross_entropy(logits.float(), action)
                g = torch.softmax(logits.float(), dim=1).clamp(min=0.01)
                h = F.one_hot(action, k).float() / g
                perturbed = factual + (h * net.epsilon[None, :]).sum(dim=1)
                total = total + self.targeted_weight * ((y - perturbed) ** 2).mean()
            return total, mse  # early stopping on the held-out factual loss

        return loss

    def fit(self, X, action=None, y=None, *, action_names=None, reference=None):
        """Fit on covariates (n, d), drug indices and outcomes (or a DecisionProblem / Cohort). Returns self."""
        from causalrx.encoders.training import train_network

        self._check()
        config = self._config()
        data = check_effect_inputs(X, action, y, action_names, reference=reference)
        self._remember(data)
        k, n = data.n_actions, len(data.y)
        # a column constant in training keeps scale 1 (as StandardScaler): dividing by ~0 would turn
        # any other value at prediction into ~1e8 and the network's output into nonsense
        spread = data.X.std(axis=0)
        self.x_mean_, self.x_scale_ = data.X.mean(axis=0), np.where(spread > 1e-8 * (1 + np.abs(data.X).max(axis=0)), spread, 1.0)
        self.y_mean_, self.y_scale_ = float(data.y.mean()), float(data.y.std()) or 1.0
        inputs = {"x": torch.as_tensor((data.X - self.x_mean_) / self.x_scale_, dtype=torch.float32)}
        target = {"action": torch.as_tensor(data.action, dtype=torch.long),
                  "y": torch.as_tensor((data.y - self.y_mean_) / self.y_scale_, dtype=torch.float32)}  # fmt: skip
        base = seed_from(self.random_state)
        self.networks_, self.histories_ = [], []
        for member in range(self.n_ensemble):
            rng = np.random.default_rng([base, member])
            val = _stratified_holdout(data.action, config.validation_fraction, rng)
            train = np.setdiff1d(np.arange(n), val)
            torch.manual_seed(int(rng.integers(2**31 - 1)))
            net = _CateNet(data.X.shape[1], k, self.hidden, self.head_hidden, self.dropout, self.kind == "dragonnet")
            history = train_network(net, inputs, target, train, val, config, int(rng.integers(2**31 - 1)), loss_fn=self._loss(k))
            net.to("cpu").eval()
            self.networks_.append(net)
            self.histories_.append({key: history[key] for key in ("best_epoch", "best_val_loss", "samples_per_second", "device")})
        return self

    @torch.no_grad()
    def _predict(self, X: np.ndarray) -> np.ndarray:
        """Outcome predictions (members, n, k) in outcome units, working order."""
        x = torch.as_tensor((X - self.x_mean_) / self.x_scale_, dtype=torch.float32)
        return np.stack([net({"x": x})[1].numpy().astype(float) for net in self.networks_]) * self.y_scale_ + self.y_mean_

    def point_effect(self, X) -> np.ndarray:
        """Point estimates (n, k) in the fitted drug order (the reference column zero)."""
        from causalrx.effects.estimate import scatter_columns

        X, _, _ = self._covariates(X, "point_effect")
        q = self._predict(X).mean(axis=0)
        return scatter_columns(q - q[:, :1], self.order_)

    def effect(self, X, *, interval: bool = True):
        """Effects of every drug versus the reference arm; ``lower``/``upper`` from the ensemble's spread."""
        X, ids, drugs = self._covariates(X)
        members = self._predict(X)
        te = members - members[:, :, :1]
        ite = te.mean(axis=0)
        if interval and self.n_ensemble > 1:
            half = ndtri(1 - self.alpha / 2) * te.std(axis=0, ddof=1)
            lower, upper = ite - half, ite + half
        else:
            lower = upper = np.where(np.arange(ite.shape[1]) == 0, 0.0, np.nan) * np.ones_like(ite)
        nan = np.full(ite.shape[1], np.nan)
        nan[0] = 0.0
        return self._estimate(ite, lower, upper, ite.mean(axis=0), nan, nan, ids, drugs)


def _stratified_holdout(action: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A validation share of every drug's patients (at least one each where a drug has two or more)."""
    held = []
    for a in np.unique(action):
        rows = rng.permutation(np.flatnonzero(action == a))
        take = int(round(fraction * len(rows))) if len(rows) > 1 else 0
        held.append(rows[: max(take, 1 if len(rows) > 1 else 0)])
    return np.sort(np.concatenate(held))
