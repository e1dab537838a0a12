"""Sequential off-policy estimators for multi-visit episodes, with bootstrap CIs over episodes.

With per-step ratios ``rho_t = pi(a_t | s_t) / mu(a_t | s_t)`` and cumulative weights
``w_t = prod_{u <= t} rho_u`` (``w_{-1} = 1``), for each episode:

* :class:`PDIS` (per-decision IS): ``sum_t gamma^t w_t r_t``, averaged over episodes;
* :class:`WPDIS` (weighted PDIS): ``sum_t gamma^t mean(w_t r_t) / mean(w_t)``;
* :class:`SequentialDR` (Jiang & Li 2016): ``sum_t gamma^t [w_t r_t - w_t Q(s_t, a_t) + w_{t-1} V(s_t)]``
  with ``V(s) = sum_a pi(a | s) Q(s, a)`` from a Q-model of the target policy (e.g. :class:`FQE`);
* :class:`WDR` (weighted DR, Thomas & Brunskill 2016): the same with each step's weights
  self-normalised.

Episodes of different lengths follow the standard convention: an episode that has ended
stays in an absorbing state with reward 0 and importance ratio 1, so its last cumulative
weight counts in every later step's normaliser (WPDIS, WDR) and contributes nothing to the
numerators. On on-policy data every weight is then 1 and WPDIS is the mean return.

Each is a smooth function of per-episode column means, so :mod:`causalrx.ope.inference`
gives its intervals: resampling rows is resampling episodes. The diagnostics are those of
the one-step estimators, computed on the final cumulative weight of every episode.

References
----------
Precup D, Sutton RS, Singh S. Eligibility traces for off-policy policy evaluation. ICML 2000.
Jiang N, Li L. Doubly robust off-policy value evaluation for reinforcement learning. ICML 2016.
Thomas P, Brunskill E. Data-efficient off-policy policy evaluation for reinforcement learning. ICML 2016.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from causalrx.data.feedback import Trajectories
from causalrx.effects.propensity import PropensityModel
from causalrx.exceptions import PositivityError, ValidationError
from causalrx.ope.estimators import PolicyValue
from causalrx.ope.inference import Bootstrap
from causalrx.ope.inputs import WeightDiagnostics, check_action_dist, mask_violation_rate, weight_diagnostics


@dataclass(frozen=True, eq=False)
class EpisodeMatrices:
    """Per-episode (n_episodes, T) matrices. Past an episode's end, rewards and Q-values are 0
    and the weights carry the episode's last cumulative weight (an absorbing state)."""

    reward: np.ndarray
    weight: np.ndarray  # cumulative w_t
    weight_prev: np.ndarray  # w_{t-1}
    q_logged: np.ndarray | None  # Q(s_t, a_t)
    v_policy: np.ndarray | None  # V(s_t)
    propensity_source: str
    diagnostics: WeightDiagnostics


def _to_matrix(traj: Trajectories, values: np.ndarray) -> np.ndarray:
    episode = traj.episode_index
    out = np.zeros((traj.n_episodes, int(traj.step.max()) + 1))
    out[episode, traj.step] = values
    return out


def prepare_sequential(traj: Trajectories, action_dist, q_values=None, *, logging_dist=None, needs_q=False,
                       allow_mask_violation=False, random_state=0) -> EpisodeMatrices:  # fmt: skip
    """Validate and compute the per-episode matrices shared by the sequential estimators.

    Without logged or given propensities, the logging policy is estimated out of fold with
    folds of whole episodes (``random_state`` sets the split)."""
    if not isinstance(traj, Trajectories):
        raise ValidationError(f"trajectories: expected Trajectories, got {type(traj).__name__}")
    n, k = traj.n_steps, traj.n_actions
    dist = check_action_dist(action_dist, n, k)
    violation = mask_violation_rate(dist, traj.mask, allow_mask_violation, "at {} step(s)")
    rows = np.arange(n)
    if traj.pscore is not None:
        pscore, source = traj.pscore, "logged"
    else:
        if logging_dist is None:
            logging_dist = PropensityModel(random_state=random_state).fit_predict(traj.observations, traj.action, k,
                                                                          groups=traj.episode_index)
            source = "estimated"
        else:
            logging_dist, source = check_action_dist(logging_dist, n, k, "logging_dist"), "given"
        pscore = logging_dist[rows, traj.action]
        if ((dist > 0) & (logging_dist <= 0)).any():
            raise PositivityError("action_dist: the target policy puts mass on a drug with logging probability 0")
    if (pscore <= 0).any():
        raise PositivityError(f"pscore: {int((pscore <= 0).sum())} logged step(s) have probability 0")
    rho = _to_matrix(traj, dist[rows, traj.action] / pscore)
    present = _to_matrix(traj, np.ones(n)) > 0
    # an episode that has ended sits in an absorbing state with reward 0 and ratio 1, so it
    # carries its last weight into every later step's normaliser (a weight of 0 there
    # would inflate the self-normalised estimators' later steps)
    weight = np.cumprod(np.where(present, rho, 1.0), axis=1)
    weight_prev = np.hstack([np.ones((len(weight), 1)), weight[:, :-1]])
    q_logged = v_policy = None
    if q_values is not None:
        q = np.asarray(q_values, dtype=float)
        if q.shape != (n, k) or not np.isfinite(q).all():
            raise ValidationError(f"q_values: expected finite ({n}, {k}) Q-estimates, got shape {q.shape}")
        q_logged, v_policy = _to_matrix(traj, q[rows, traj.action]), _to_matrix(traj, (dist * q).sum(axis=1))
    elif needs_q:
        raise ValidationError("q_values: this estimator needs the target policy's (N, k) Q-estimates (see FQE)")
    min_pscore = np.minimum.reduceat(pscore, traj.episode_starts)
    diag = weight_diagnostics(weight[:, -1], min_pscore, mask_violation_rate=violation)
    return EpisodeMatrices(reward=_to_matrix(traj, traj.reward), weight=weight, weight_prev=weight_prev, q_logged=q_logged,
                           v_policy=v_policy, propensity_source=source, diagnostics=diag)  # fmt: skip


@dataclass(frozen=True)
class _Sequential:
    gamma: float = 1.0
    needs_q: ClassVar[bool] = False
    name: ClassVar[str] = ""

    def discount(self, T: int) -> np.ndarray:
        if not 0 < self.gamma <= 1:
            raise ValidationError(f"gamma: expected a discount in (0, 1], got {self.gamma!r}")
        return self.gamma ** np.arange(T)

    def columns(self, m: EpisodeMatrices):
        raise NotImplementedError

    def estimate(self, trajectories: Trajectories, action_dist, q_values=None, *, inference=None, logging_dist=None,
                 allow_mask_violation: bool = False, random_state=0) -> PolicyValue:  # fmt: skip
        """Value of the target policy (its (N, k) distribution at every logged step), with a CI over episodes.

        ``inference`` defaults to a 1,000-resample percentile :class:`Bootstrap`.
        """
        m = prepare_sequential(trajectories, action_dist, q_values, logging_dist=logging_dist, needs_q=self.needs_q,
                               allow_mask_violation=allow_mask_violation, random_state=random_state)  # fmt: skip
        return evaluate_sequential([self], m, inference)[0]


def evaluate_sequential(estimators, m: EpisodeMatrices, inference=None) -> list[PolicyValue]:
    inference = inference or Bootstrap(random_state=0)
    for w in m.diagnostics.warnings:
        warnings.warn(w, stacklevel=3)
    out = []
    for est in estimators:
        columns, combine = est.columns(m)
        lower, upper, se = inference.interval(columns, [combine])[0]
        out.append(PolicyValue(
            estimator=est.name, value=float(combine(columns.mean(axis=0))), lower=lower, upper=upper, std_error=se,
            alpha=inference.alpha, interval=inference.name, n_rounds=len(columns), propensity_source=m.propensity_source,
            params={"gamma": est.gamma}, diagnostics=m.diagnostics,
        ))  # fmt: skip
    return out


def _sum(x):
    return x[..., 0]


@dataclass(frozen=True)
class PDIS(_Sequential):
    """Per-decision importance sampling (Precup et al. 2000); unbiased with true propensities."""

    name: ClassVar[str] = "PDIS"

    def columns(self, m):
        g = self.discount(m.reward.shape[1])
        return (m.weight * m.reward * g).sum(axis=1, keepdims=True), _sum


@dataclass(frozen=True)
class WPDIS(_Sequential):
    """Weighted (self-normalised per step) PDIS: biased, consistent, far lower variance."""

    name: ClassVar[str] = "WPDIS"

    def columns(self, m):
        T = m.reward.shape[1]
        g = self.discount(T)

        def combine(means):
            return (means[..., :T] / np.maximum(means[..., T:], 1e-300)).sum(axis=-1)

        return np.hstack([m.weight * m.reward * g, m.weight]), combine


@dataclass(frozen=True)
class SequentialDR(_Sequential):
    """Sequential doubly robust estimator (Jiang & Li 2016): unbiased if the propensities are right."""

    needs_q: ClassVar[bool] = True
    name: ClassVar[str] = "SequentialDR"

    def columns(self, m):
        g = self.discount(m.reward.shape[1])
        per_step = m.weight * (m.reward - m.q_logged) + m.weight_prev * m.v_policy
        return (per_step * g).sum(axis=1, keepdims=True), _sum


@dataclass(frozen=True)
class WDR(_Sequential):
    """Weighted doubly robust estimator (Thomas & Brunskill 2016): each step's weights self-normalised."""

    needs_q: ClassVar[bool] = True
    name: ClassVar[str] = "WDR"

    def columns(self, m):
        T = m.reward.shape[1]
        g = self.discount(T)
        blocks = [m.weight * (m.reward - m.q_logged) * g, m.weight_prev * m.v_policy * g, m.weight, m.weight_prev]

        def combine(means):
            a, b, w, wp = (means[..., i * T : (i + 1) * T] for i in range(4))
            return (a / np.maximum(w, 1e-300) + b / np.maximum(wp, 1e-300)).sum(axis=-1)

        return np.hstack(blocks), combine


SEQUENTIAL_ESTIMATORS = (PDIS, WPDIS, SequentialDR, WDR)


def estimate_sequential(trajectories: Trajectories, action_dist, q_values=None, estimators=None, *, inference=None,
                        logging_dist=None, allow_mask_violation: bool = False, random_state=0) -> list[PolicyValue]:  # fmt: skip
    """Several sequential estimators for one target policy, validating once."""
    estimators = list(estimators) if estimators is not None else [
        cls() for cls in SEQUENTIAL_ESTIMATORS if q_values is not None or not cls.needs_q]  # fmt: skip
    m = prepare_sequential(trajectories, action_dist, q_values, logging_dist=logging_dist,
                           needs_q=any(e.needs_q for e in estimators), allow_mask_violation=allow_mask_violation,
                           random_state=random_state)  # fmt: skip
    return evaluate_sequential(estimators, m, inference)
