"""Fitted Q evaluation (d3rlpy's ``DiscreteFQE``) of any policy, stochastic ones included.

d3rlpy's FQE backs up ``Q(s', pi(s'))`` for a deterministic d3rlpy policy. Here the target
policy's distribution at every step is appended to the observation (k columns) and the
implementation is switched to :class:`ExpectedDiscreteFQEImpl`, whose Bellman target is
``r + gamma * sum_a pi(a | s') Q(s', a)``, so any :class:`~causalrx.policy.Policy` (a
stochastic clinician model, a masked tree) can be evaluated. The value is the mean over
episodes of ``V(s_0) = sum_a pi(a | s_0) Q(s_0, a)``.

Its interval: ``n_refits = B`` (default 20) refits FQE on B bootstrap resamples of
episodes and gives the normal interval ``value +/- z sd`` with ``sd`` the spread of the
refitted values, so it includes the error of the fitted Q-function (B + 1 fits in all).
``n_refits = 0`` is B times cheaper and bootstraps ``V(s_0)`` over episodes only: it
reflects the spread of initial states but not the Q-model's error (two fits on the same
data can differ by more than that interval is wide), and its label says so.

References
----------
Le HM, Voloshin C, Yue Y. Batch policy learning under constraints. ICML 2019.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from causalrx.data.feedback import Trajectories
from causalrx.exceptions import ValidationError, seed_from
from causalrx.ope.estimators import PolicyValue
from causalrx.ope.inference import Bootstrap
from causalrx.ope.inputs import check_action_dist, no_weights
from causalrx.parallel import small_network_threads, torch_threads
from causalrx.policy.offline_rl import import_d3rlpy, noop_logger, quiet_d3rlpy, standardisation


def _expected_fqe_class():
    import torch
    import_d3rlpy()
    from d3rlpy.ope.torch.fqe_impl import DiscreteFQEImpl

    class ExpectedDiscreteFQEImpl(DiscreteFQEImpl):
        """FQE whose target averages Q over the policy distribution stored in the last k observation columns."""

        n_policy_: int

        def inner_update(self, batch, grad_step):
            x = batch.next_observations
            with torch.no_grad():
                q = self._targ_q_func_forwarder.compute_expected_q(x, reduction="mean")
                target = (x[:, -self.n_policy_ :] * q).sum(dim=1, keepdim=True)
            loss = self.compute_loss(batch, target)
            self._modules.optim.zero_grad()
            loss.backward()
            self._modules.optim.step()
            if grad_step % self._target_update_interval == 0:
                self.update_target()
            return {"loss": float(loss.detach().cpu())}

    ExpectedDiscreteFQEImpl.__module__ = __name__
    globals()["ExpectedDiscreteFQEImpl"] = ExpectedDiscreteFQEImpl
    return ExpectedDiscreteFQEImpl


TRACE_POINTS = 10  # values of V(s0) recorded during a fit, for the convergence check


class NotConvergedWarning(UserWarning):
    """FQE's value was still moving at the end of its fit; ``metric``, ``value`` and ``threshold`` say by how much."""

    def __init__(self, message: str, metric: str, value: float, threshold: float):
        super().__init__(message)
        self.metric, self.value, self.threshold = metric, value, threshold

    def __reduce__(self):
        return (NotConvergedWarning, (str(self), self.metric, self.value, self.threshold))


class _NoAlgorithm:
    """Stands in for the d3rlpy algorithm DiscreteFQE asks for; the target policy is in the observations."""

    impl = True


@dataclass
class FQE:
    """Fitted Q evaluation of a target policy on logged episodes.

    Parameters
    ----------
    n_steps, batch_size, learning_rate, target_update_interval : training settings
    gamma : float
        Discount (1.0: undiscounted finite-horizon return).
    hidden_units : tuple of int
    n_refits : int
        Bootstrap refits over episodes for the interval (default 20; 0: a bootstrap of
        V(s_0) only, which leaves out the Q-model's error; see the module docs).
    alpha : float
        1 - coverage of the interval.
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    random_state : int, optional
    """

    n_steps: int = 3000
    batch_size: int = 256
    learning_rate: float = 1e-3
    target_update_interval: int = 100
    gamma: float = 1.0
    hidden_units: tuple[int, ...] = (64, 64)
    n_refits: int = 20
    alpha: float = 0.05
    device: str = "auto"
    random_state: int | None = None

    name = "FQE"

    def _inputs(self, obs, dist):
        return np.hstack([(obs - self.mean_) / self.scale_, dist]).astype(np.float32)

    def _fit_one(self, traj: Trajectories, dist: np.ndarray, seed: int, trace: list | None = None):
        d3rlpy = import_d3rlpy()

        from causalrx.encoders.training import resolve_device

        k = traj.n_actions
        x = self._inputs(traj.observations, dist)
        with quiet_d3rlpy():
            dataset = d3rlpy.dataset.MDPDataset(
                observations=x, actions=traj.action[:, None], rewards=traj.reward[:, None].astype(np.float32),
                terminals=traj.terminals, action_space=d3rlpy.ActionSpace.DISCRETE, action_size=k,
            )  # fmt: skip
        d3rlpy.seed(seed)
        config = d3rlpy.ope.FQEConfig(
            learning_rate=self.learning_rate, batch_size=self.batch_size, gamma=self.gamma,
            target_update_interval=self.target_update_interval,
            encoder_factory=d3rlpy.models.VectorEncoderFactory(hidden_units=list(self.hidden_units)),
        )  # fmt: skip
        fqe = d3rlpy.ope.DiscreteFQE(algo=_NoAlgorithm(), config=config, device=resolve_device(self.device).type)
        with quiet_d3rlpy():
            fqe.build_with_dataset(dataset)
        fqe.impl.__class__ = _expected_fqe_class()
        fqe.impl.n_policy_ = k
        callback = None
        if trace is not None:  # mean V(s0) every tenth of the steps: does the value still move at the end?
            starts, every = traj.episode_starts, max(1, self.n_steps // TRACE_POINTS)
            x0, d0 = x[starts], dist[starts]

            def callback(algo, epoch, step):
                if step % every == 0 or step == self.n_steps:
                    trace.append((step, float((d0 * self._q(algo, x0, k)).sum(axis=1).mean())))

        with quiet_d3rlpy(), torch_threads(small_network_threads(self.hidden_units, self.batch_size)):
            fqe.fit(dataset, n_steps=self.n_steps, n_steps_per_epoch=self.n_steps, logger_adapter=noop_logger(),
                    show_progress=False, save_interval=self.n_steps + 1, callback=callback)  # fmt: skip
        return fqe

    @staticmethod
    def _q(fqe, x, k):
        return np.column_stack([fqe.predict_value(x, np.full(len(x), a)) for a in range(k)])

    def fit(self, trajectories: Trajectories, action_dist):
        """Fit Q of the target policy whose (N, k) distribution at every logged step is ``action_dist``."""
        if not isinstance(trajectories, Trajectories):
            raise ValidationError(f"trajectories: expected Trajectories, got {type(trajectories).__name__}")
        if self.n_steps < 1:
            raise ValidationError(f"n_steps: expected a positive integer, got {self.n_steps!r}")
        dist = check_action_dist(action_dist, trajectories.n_steps, trajectories.n_actions)
        obs = trajectories.observations
        self.mean_, self.scale_ = standardisation(obs)
        seed = seed_from(self.random_state)
        self.value_trace_ = []
        self.model_ = self._fit_one(trajectories, dist, seed, trace=self.value_trace_)
        self.fitted_on_ = _fingerprint(trajectories, dist)  # a digest, not the episodes: FQE keeps no patient rows
        return self

    def q_values(self, observations, action_dist) -> np.ndarray:
        """Q(s, a) for every drug, (N, k), at the given observations (the policy's distribution there is an input)."""
        if not hasattr(self, "model_"):
            raise ValidationError("FQE: call fit before q_values")
        obs = np.asarray(observations, dtype=float)
        return self._q(self.model_, self._inputs(obs, action_dist), len(action_dist[0]))

    def cross_fit_q_values(self, trajectories: Trajectories, action_dist, *, n_folds: int = 2) -> np.ndarray:
        """Out-of-fold Q(s, a), (N, k): each episode's steps are scored by an FQE fitted on the other folds' episodes.

        This is the Q-model the doubly robust sequential estimators (:class:`~causalrx.ope.sequential.SequentialDR`,
        :class:`~causalrx.ope.sequential.WDR`) should use: a Q-model fitted on the episodes it
        scores makes their per-episode terms depend on each other through it, and their
        intervals too narrow. The folds are of whole episodes (``random_state`` sets them);
        the fold models are not kept.
        """
        from causalrx.effects.crossfit import make_group_folds
        from causalrx.execution import run_inner

        if not isinstance(trajectories, Trajectories):
            raise ValidationError(f"trajectories: expected Trajectories, got {type(trajectories).__name__}")
        traj, k = trajectories, trajectories.n_actions
        dist = check_action_dist(action_dist, traj.n_steps, k)
        q, base = np.zeros((traj.n_steps, k)), seed_from(self.random_state)
        folds = make_group_folds(traj.episode_index, n_folds, self.random_state)
        tasks = [(f"fold {f}", {"train": train, "test": test, "seed": base + f + 1}) for f, (train, test) in enumerate(folds)]
        for (_, test), q_test in zip(folds, run_inner(_fold_q, tasks, shared={"fqe": dataclasses.replace(self), "traj": traj, "dist": dist})):
            q[test] = q_test
        return q

    def estimate(self, trajectories: Trajectories, action_dist, *, inference=None) -> PolicyValue:
        """Fit (if not fitted on these data) and return the value ``mean V(s_0)`` with its interval."""
        dist = check_action_dist(action_dist, trajectories.n_steps, trajectories.n_actions)
        if getattr(self, "fitted_on_", None) != _fingerprint(trajectories, dist):
            self.fit(trajectories, dist)
        starts = trajectories.episode_starts
        q0 = self._q(self.model_, self._inputs(trajectories.observations[starts], dist[starts]), trajectories.n_actions)
        v0 = (dist[starts] * q0).sum(axis=1)
        inference = Bootstrap(random_state=self.random_state, alpha=self.alpha) if inference is None else inference
        if self.n_refits > 0:
            se = self._refit_sd(trajectories, dist)
            z = float(ndtri(1 - self.alpha / 2))
            lower, upper = float(v0.mean() - z * se), float(v0.mean() + z * se)
            label = f"normal, sd of {self.n_refits} bootstrap refits over episodes (Q-model error included)"
        else:
            lower, upper, se = inference.interval(v0[:, None], [lambda m: m[..., 0]])[0]
            label = f"{inference.name} of V(s0) (Q-model error not included)"
        found = self._convergence_warnings(float(v0.mean()), float(se))
        for w in found:
            warnings.warn(w, stacklevel=2)
        return PolicyValue(
            estimator=self.name, value=float(v0.mean()), lower=lower, upper=upper, std_error=se, alpha=self.alpha, interval=label,
            n_rounds=len(starts), propensity_source="not used", params={"gamma": self.gamma, "n_steps": self.n_steps},
            diagnostics=dataclasses.replace(no_weights(len(starts)), warnings=tuple(found)),
        )  # fmt: skip

    def _convergence_warnings(self, value: float, se: float) -> list:
        """A warning when the value moved by more than its standard error (at least 1% of it) over the last fifth of
        the steps: the Q-function has not converged, and the interval does not include that error."""
        trace = getattr(self, "value_trace_", [])
        before = [v for step, v in trace if step <= 0.8 * self.n_steps]
        if len(trace) < 3 or not before or trace[-1][0] <= 0.8 * self.n_steps:
            return []
        moved = abs(trace[-1][1] - before[-1])
        threshold = max(se, 0.01 * abs(value))
        if not np.isfinite(moved) or moved <= threshold:
            return []
        return [NotConvergedWarning(f"FQE: the value still moved by {moved:.3g} over the last fifth of the {self.n_steps} steps "
                                    f"(more than {threshold:.3g}, its standard error or 1% of it); the Q-function has not "
                                    "converged and the interval leaves that error out: raise n_steps",
                                    "value_change_last_fifth", moved, threshold)]  # fmt: skip

    def _refit_sd(self, traj: Trajectories, dist: np.ndarray) -> float:
        """Standard deviation of the value over FQE refits on bootstrap resamples of whole episodes."""
        if not isinstance(self.n_refits, (int, np.integer)) or self.n_refits < 2:
            raise ValidationError(f"n_refits: expected 0 or an integer >= 2 (refits for the interval), got {self.n_refits!r}")
        from causalrx.execution import run_inner

        rng = np.random.default_rng(self.random_state)
        base = seed_from(self.random_state)
        resamples = [rng.integers(0, traj.n_episodes, traj.n_episodes) for _ in range(self.n_refits)]  # drawn here, in order
        tasks = [(f"refit {b}", {"chosen": chosen, "seed": base + b + 1}) for b, chosen in enumerate(resamples)]
        settings = dataclasses.replace(self)  # the settings and the main fit's standardisation, not its fitted model
        settings.mean_, settings.scale_ = self.mean_, self.scale_
        values = run_inner(_refit_value, tasks, shared={"fqe": settings, "traj": traj, "dist": dist}, desc="FQE refits")
        return float(np.std(values, ddof=1))


def _fold_q(fqe: FQE, traj: Trajectories, dist: np.ndarray, train, test, seed: int) -> np.ndarray:
    """Q(s, a) on the ``test`` rows from an FQE fitted (with its own standardisation) on the ``train`` rows."""
    obs = traj.observations
    fold = dataclasses.replace(fqe)  # same settings, its own standardisation
    fold.mean_, fold.scale_ = standardisation(obs[train])
    model = fold._fit_one(traj.subset(train), dist[train], seed)
    return fold._q(model, fold._inputs(obs[test], dist[test]), traj.n_actions)


def _refit_value(fqe: FQE, traj: Trajectories, dist: np.ndarray, chosen: np.ndarray, seed: int) -> float:
    """The value from an FQE refitted on the bootstrap resample ``chosen`` of whole episodes."""
    starts, lengths = traj.episode_starts, np.bincount(traj.episode_index)
    size = lengths[chosen]
    first = np.cumsum(size) - size  # where each resampled episode begins in the resample
    rows = np.repeat(starts[chosen], size) + np.arange(size.sum()) - np.repeat(first, size)
    sub = traj.subset(rows, episode_id=np.repeat(np.arange(len(chosen)), size))
    model = fqe._fit_one(sub, dist[rows], seed)
    s0 = starts[chosen]  # the resample's own initial states: their spread is part of the value's error
    x = fqe._inputs(traj.observations[s0], dist[s0])
    return float((dist[s0] * fqe._q(model, x, traj.n_actions)).sum(axis=1).mean())


def _fingerprint(trajectories: Trajectories, dist: np.ndarray) -> str:
    """SHA-256 of the episodes and the target distribution: recognises the data a model was fitted on without keeping it."""
    import hashlib

    h = hashlib.sha256()
    for part in (trajectories.observations, trajectories.action, trajectories.reward, trajectories.step, dist):
        h.update(np.ascontiguousarray(part).tobytes())
    return h.hexdigest()
