"""One-step off-policy estimators: IPS, SNIPS, DM, DR, SNDR, Switch-DR, DR-os.

Each estimator turns the validated per-round quantities (importance weight ``w``, reward
``r``, reward-model predictions ``q(x, a_i)`` and ``q_pi(x) = sum_a pi(a|x) q(x, a)``) into
per-round *columns* and a function ``combine`` of their means; the value is
``combine(column means)``. Inference (:mod:`causalrx.ope.inference`) works on the same
columns, so every estimator gets a normal and a bootstrap interval from one code path.

Estimators with a clipping or shrinkage parameter accept a number or ``None`` to choose it
from the data, by estimated MSE with a high-confidence bias bound (default, conservative) or
by SLOPE (see :func:`select_parameter`). Their intervals account for that choice: the
columns of a tuned estimator hold every candidate's terms, so a bootstrap repeats the choice
in every resample (on the grid of candidates chosen from the full data), and where a
normal interval was asked for, a tuned estimator gets this 1,000-resample bootstrap instead
(its ``interval`` label says so), because the delta method would treat the chosen
parameter as fixed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy.special import ndtri

from causalrx.data.feedback import BanditFeedback
from causalrx.exceptions import ValidationError, check_number
from causalrx.ope.inference import Bootstrap, NormalInterval
from causalrx.ope.inputs import Prepared, WeightDiagnostics, prepare


@dataclass(frozen=True)
class PolicyValue:
    """Estimated value of a target policy, with its interval and diagnostics."""

    estimator: str
    value: float
    lower: float
    upper: float
    std_error: float
    alpha: float
    interval: str
    n_rounds: int
    propensity_source: str
    params: dict
    diagnostics: WeightDiagnostics

    def to_frame(self) -> pd.DataFrame:
        row = {
            "estimator": self.estimator, "value": self.value, "lower": self.lower, "upper": self.upper,
            "std_error": self.std_error, "alpha": self.alpha, "interval": self.interval, "n_rounds": self.n_rounds,
            "propensity_source": self.propensity_source, "ess": self.diagnostics.ess, "max_weight": self.diagnostics.max_weight,
            **{f"param_{k}": v for k, v in self.params.items()},
        }  # fmt: skip
        return pd.DataFrame([row])


def _first(m):
    return m[..., 0]


def _ratio(m):
    return m[..., 0] / m[..., 1]


def _dm_plus_ratio(m):
    return m[..., 0] + m[..., 1] / m[..., 2]


@dataclass(frozen=True)
class _Estimator:
    needs_rewards: ClassVar[bool] = False
    name: ClassVar[str] = ""

    def columns(self, p: Prepared) -> tuple[np.ndarray, object, dict]:
        """(per-round columns (n, m), combine function, chosen parameters)."""
        raise NotImplementedError

    def estimate(
        self,
        feedback: BanditFeedback,
        action_dist,
        estimated_rewards=None,
        *,
        inference: NormalInterval | Bootstrap | None = None,
        logging_dist=None,
        allow_mask_violation: bool = False,
    ) -> PolicyValue:
        """Estimate the value of ``action_dist`` (n, k) on ``feedback``.

        ``estimated_rewards`` (n, k) are out-of-fold reward-model predictions (see
        :class:`~causalrx.ope.reward_model.RewardModel`), needed by DM and the DR family.
        ``inference`` is :class:`NormalInterval` (default) or :class:`Bootstrap`. When the
        feedback has no logged propensities, ``logging_dist`` (n, k) is used, or else the
        logging policy is estimated (cross-fitted, calibrated); the result's
        ``propensity_source`` says which. Overlap problems emit :class:`OverlapWarning`
        and are listed in ``diagnostics.warnings``.
        """
        p = prepare(
            feedback, action_dist, estimated_rewards, needs_rewards=self.needs_rewards, logging_dist=logging_dist,
            allow_mask_violation=allow_mask_violation,
        )  # fmt: skip
        return evaluate_prepared(self, p, inference or NormalInterval())


def evaluate_prepared(estimator: _Estimator, p: Prepared, inference) -> PolicyValue:
    for w in p.diagnostics.warnings:
        warnings.warn(w, stacklevel=3)
    return _results([estimator], p, inference)[0]


def _results(estimators, p: Prepared, inference) -> list[PolicyValue]:
    built = [est.columns(p) for est in estimators]
    widths = [cols.shape[1] for cols, _, _ in built]
    stacked = np.hstack([cols for cols, _, _ in built])
    offsets = np.cumsum([0] + widths)

    def sliced(combine, start, stop):
        return lambda m: combine(m[..., start:stop])

    combines = [sliced(c, offsets[i], offsets[i + 1]) for i, (_, c, _) in enumerate(built)]
    intervals = inference.interval(stacked, combines)
    labels = [inference.name] * len(estimators)
    if isinstance(inference, NormalInterval):
        # a normal interval treats a tuned clipping/shrinkage parameter as fixed; a bootstrap
        # that repeats the choice in every resample does not (same level, fixed seed)
        boot = Bootstrap(n_bootstrap=1000, alpha=inference.alpha, random_state=0)
        for i, (cols, combine, _) in enumerate(built):
            if isinstance(combine, _TunedCombine):
                intervals[i] = boot.interval(cols, [combine])[0]
                labels[i] = f"{boot.name}, repeating the tuning"
    means = stacked.mean(axis=0)
    out = []
    for est, combine, (_, _, params), (lower, upper, se), label in zip(estimators, combines, built, intervals, labels):
        value = float(combine(means))
        if not np.isfinite([value, lower, upper, se]).all():
            i = int(np.argmax(p.weight))
            raise ValidationError(f"{est.name}: the estimate {value:.3g} or its interval ({lower:.3g}, {upper:.3g}) is not finite; "
                                  f"the largest importance weight is {p.weight[i]:.3g} (round {i}, logging probability "
                                  f"{p.pscore[i]:.3g}). Check that propensity, clip the weights (e.g. IPS(clip=...)) or use a "
                                  "self-normalised estimator (SNIPS, SNDR)")  # fmt: skip
        out.append(
            PolicyValue(
                estimator=est.name, value=float(combine(means)), lower=lower, upper=upper, std_error=se,
                alpha=inference.alpha, interval=label, n_rounds=len(p.weight),
                propensity_source=p.propensity_source, params=params, diagnostics=p.diagnostics,
            )  # fmt: skip
        )
    return out


# ----------------------------------------------------------------------- estimators
@dataclass(frozen=True)
class IPS(_Estimator):
    """Inverse propensity scoring, ``mean(min(w, clip) * r)``.

    Unbiased without clipping when the logging propensities are correct.

    References
    ----------
    Horvitz DG, Thompson DJ. JASA 1952;47:663-685. Strehl A, et al. Learning from logged
    implicit exploration data. NeurIPS 2010 (clipping).
    """

    clip: float | None = np.inf
    tuning: str = "mse"
    name: ClassVar[str] = "IPS"

    def columns(self, p):
        return _corrected(p, 0.0, p.reward, _clipped, self.clip, self.tuning, "clip")


@dataclass(frozen=True)
class SNIPS(_Estimator):
    """Self-normalised IPS, ``sum(w r) / sum(w)``.

    References
    ----------
    Swaminathan A, Joachims T. The self-normalized estimator for counterfactual learning.
    NeurIPS 2015.
    """

    name: ClassVar[str] = "SNIPS"

    def columns(self, p):
        return np.column_stack([p.weight * p.reward, p.weight]), _ratio, {}


@dataclass(frozen=True)
class DM(_Estimator):
    """Direct method, ``mean(sum_a pi(a|x) q(x, a))``; exact when the reward model is.

    Its interval reflects sampling noise given the reward model only, not the model's own
    bias, so it is too narrow whenever the model is misspecified; prefer the DR family for
    inference.

    References
    ----------
    Beygelzimer A, Langford J. The offset tree for learning with partial labels. KDD 2009.
    """

    needs_rewards: ClassVar[bool] = True
    name: ClassVar[str] = "DM"

    def columns(self, p):
        return p.q_policy[:, None], _first, {}


@dataclass(frozen=True)
class DR(_Estimator):
    """Doubly robust, ``mean(q_pi + min(w, clip) (r - q(x, a_i)))``.

    References
    ----------
    Dudik M, Langford J, Li L. Doubly robust policy evaluation and learning. ICML 2011.
    """

    clip: float | None = np.inf
    tuning: str = "mse"
    needs_rewards: ClassVar[bool] = True
    name: ClassVar[str] = "DR"

    def columns(self, p):
        return _corrected(p, p.q_policy, p.reward - p.q_logged, _clipped, self.clip, self.tuning, "clip")


@dataclass(frozen=True)
class SNDR(_Estimator):
    """Self-normalised DR, ``mean(q_pi) + sum(w (r - q(x, a_i))) / sum(w)``.

    References
    ----------
    Kallus N, Uehara M. Intrinsically efficient, stable, and bounded off-policy evaluation
    for reinforcement learning. NeurIPS 2019.
    """

    needs_rewards: ClassVar[bool] = True
    name: ClassVar[str] = "SNDR"

    def columns(self, p):
        return np.column_stack([p.q_policy, p.weight * (p.reward - p.q_logged), p.weight]), _dm_plus_ratio, {}


@dataclass(frozen=True)
class SwitchDR(_Estimator):
    """Switch-DR, ``mean(q_pi + 1{w <= tau} w (r - q(x, a_i)))``: DR where weights are small, DM elsewhere.

    The correction term is switched off for rounds whose weight exceeds ``tau`` (the form
    used by Open Bandit Pipeline).

    References
    ----------
    Wang Y-X, Agarwal A, Dudik M. Optimal and adaptive off-policy evaluation in contextual
    bandits. ICML 2017.
    """

    tau: float | None = None
    tuning: str = "mse"
    needs_rewards: ClassVar[bool] = True
    name: ClassVar[str] = "Switch-DR"

    def columns(self, p):
        return _corrected(p, p.q_policy, p.reward - p.q_logged, _switched, self.tau, self.tuning, "tau")


@dataclass(frozen=True)
class DRos(_Estimator):
    """DR with optimistic shrinkage: weights ``lambda w / (w^2 + lambda)``.

    References
    ----------
    Su Y, Dimakopoulou M, Krishnamurthy A, Dudik M. Doubly robust off-policy evaluation
    with shrinkage. ICML 2020.
    """

    lambda_: float | None = None
    tuning: str = "mse"
    needs_rewards: ClassVar[bool] = True
    name: ClassVar[str] = "DR-os"

    def columns(self, p):
        return _corrected(p, p.q_policy, p.reward - p.q_logged, _shrunk, self.lambda_, self.tuning, "lambda")


ALL_ESTIMATORS = (IPS, SNIPS, DM, DR, SNDR, SwitchDR, DRos)


# ------------------------------------------------- transformed weights and tuning
def _clipped(w, c):
    return np.minimum(w, c)


def _switched(w, tau):
    return (w <= tau) * w


def _shrunk(w, lam):
    return w if np.isinf(lam) else lam * w / (w**2 + lam)


def _corrected(p: Prepared, base, residual, transform, param, rule, key):
    """Columns of ``base + transform(w, param) * residual``, with ``param`` tuned when None.

    The per-round bias of the transformation is ``(w - transform(w, param)) * residual``.
    A tuned estimator returns, for every candidate, the columns its choice is made from
    (the candidate's terms, their squares, its bias terms and their squares); its combine
    function repeats the choice from their means. So the point estimate is the tuned one,
    and a bootstrap repeats the tuning in every resample: its interval accounts for the
    data-driven choice instead of treating the chosen parameter as fixed.
    """

    def make(c):
        return base + transform(p.weight, c) * residual

    def bias_terms(c):
        return (p.weight - transform(p.weight, c)) * residual

    chosen, params = _resolve(param, rule, make, bias_terms, p, key)
    if param is not None:
        return make(chosen)[:, None], _first, params
    candidates = _candidates(p.weight)
    blocks = []
    for c in candidates:
        col, d = make(c), bias_terms(c)
        blocks += [col, col**2, d, d**2]
    return np.column_stack(blocks), _TunedCombine(len(p.weight), len(candidates), rule), params


@dataclass(frozen=True)
class _TunedCombine:
    """The tuned estimate as a function of per-candidate column means (see :func:`_corrected`), vectorised over resamples."""

    n: int
    n_candidates: int
    rule: str
    alpha: float = 0.05

    def __call__(self, means: np.ndarray) -> np.ndarray:
        m = means.reshape(*means.shape[:-1], self.n_candidates, 4)
        values, second, bias, bias2 = m[..., 0], m[..., 1], m[..., 2], m[..., 3]
        scale = self.n / max(self.n - 1, 1)
        ses = np.sqrt(np.maximum(second - values**2, 0.0) * scale / self.n)
        chosen = _choose(values, ses, bias, np.sqrt(np.maximum(bias2 - bias**2, 0.0) * scale / self.n), self.rule, self.alpha)
        return np.take_along_axis(values, chosen[..., None], axis=-1)[..., 0]


def _choose(values, ses, bias_mean, bias_se, rule: str, alpha: float = 0.05) -> np.ndarray:
    """Index of the chosen candidate along the last axis (candidates increasing, the last = no clipping); see
    :func:`select_parameter`."""
    if rule == "slope":
        # from the unbiased end, the running intersection of the intervals value +/- 2 se
        lo = np.flip(np.maximum.accumulate(np.flip(values - 2 * ses, -1), axis=-1), -1)
        hi = np.flip(np.minimum.accumulate(np.flip(values + 2 * ses, -1), axis=-1), -1)
        return values.shape[-1] - (lo <= hi).sum(axis=-1)  # once empty, it stays empty
    if rule == "mse":
        bound = np.abs(bias_mean) + ndtri(1 - alpha / 2) * bias_se  # 0 without clipping: its bias terms are 0
        return np.argmin(bound**2 + ses**2, axis=-1)
    raise ValidationError(f"tuning: expected 'slope' or 'mse', got {rule!r}")


# ------------------------------------------------------------------------- tuning
def _candidates(weight: np.ndarray) -> np.ndarray:
    """Increasing grid from heavy clipping/shrinkage to none (``inf``): weight quantiles, then inf."""
    grid = np.quantile(weight, [0.5, 0.75, 0.9, 0.95, 0.99, 0.999])
    return np.r_[np.unique(grid[grid > 0]), np.inf]


def select_parameter(make, bias_terms, candidates, n: int, rule: str = "slope", alpha: float = 0.05) -> tuple[float, pd.DataFrame]:
    """Pick a clipping/shrinkage parameter from ``candidates`` (increasing; ``inf`` = none).

    ``rule="slope"``: SLOPE (Lepski's method): from the unbiased end (``inf``) move towards
    more clipping while each candidate's interval ``value +/- 2 se`` still intersects all
    previous ones; pick the last. ``rule="mse"``: minimise ``bias_bound^2 + se^2`` with
    ``bias_bound = |mean(d)| + z se(d)``, ``d`` the per-round difference between the
    unclipped and clipped terms (a high-confidence bound on the bias).

    References
    ----------
    Su Y, Srinath P, Krishnamurthy A. Adaptive estimator selection for off-policy
    evaluation. ICML 2020 (SLOPE). Su Y, et al. ICML 2020 (estimated-MSE tuning of DR-os).
    """
    values, ses = [], []
    for c in candidates:
        col = make(c)
        values.append(col.mean())
        ses.append(col.std(ddof=1) / np.sqrt(n))
    values, ses = np.array(values), np.array(ses)
    if rule not in ("slope", "mse"):
        raise ValidationError(f"tuning: expected 'slope' or 'mse', got {rule!r}")
    terms = [bias_terms(c) for c in candidates] if rule == "mse" else [np.zeros(1)] * len(candidates)
    bias_mean = np.array([d.mean() for d in terms])
    bias_se = np.array([d.std(ddof=1) / np.sqrt(n) if len(d) > 1 else 0.0 for d in terms])
    chosen = int(_choose(values, ses, bias_mean, bias_se, rule, alpha))
    score = np.full(len(candidates), np.nan)
    if rule == "mse":
        score = (np.abs(bias_mean) + ndtri(1 - alpha / 2) * bias_se) ** 2 + ses**2
    table = pd.DataFrame({"candidate": candidates, "value": values, "std_error": ses, "score": score})
    return float(candidates[chosen]), table


def _resolve(param, rule, make, bias_terms, p: Prepared, key: str):
    if param is not None:
        param = check_number(key, param, inf_ok=True, hint=" (inf allowed), or None to tune it")
        return param, {key: param}
    chosen, _ = select_parameter(make, bias_terms, _candidates(p.weight), len(p.weight), rule)
    return chosen, {key: chosen, "tuning": rule}


def estimate_all(
    feedback: BanditFeedback,
    action_dist,
    estimated_rewards=None,
    estimators=None,
    *,
    inference=None,
    logging_dist=None,
    allow_mask_violation: bool = False,
) -> list[PolicyValue]:
    """Several estimators for one target policy, validating once and sharing bootstrap resamples."""
    estimators = list(estimators) if estimators is not None else [cls() for cls in ALL_ESTIMATORS]
    needs = any(e.needs_rewards for e in estimators)
    p = prepare(
        feedback, action_dist, estimated_rewards, needs_rewards=needs, logging_dist=logging_dist,
        allow_mask_violation=allow_mask_violation,
    )  # fmt: skip
    for w in p.diagnostics.warnings:
        warnings.warn(w, stacklevel=2)
    return _results(estimators, p, inference or NormalInterval())
