"""High-confidence off-policy evaluation and off-policy selection of a policy among candidates.

A methodologist choosing between recommendation strategies wants more than point values:
a *lower bound* that the new strategy's value exceeds with probability ``1 - alpha``, and a
selection rule that does not pick a policy merely because its estimate was lucky.

:func:`lower_bound` gives one-sided ``1 - alpha`` lower bounds of a policy's value:

* ``"t"``: Student's t on the estimator's influence values, ``value - t_{1-alpha, n-1} se``
  (approximate; any estimator of :mod:`causalrx.ope.estimators`);
* ``"bootstrap"``: the ``alpha`` quantile of the vectorised bootstrap (approximate; any
  estimator, a tuned one repeating its tuning in every resample);
* (one-step only) ``"bernstein"``: the empirical Bernstein bound of Maurer & Pontil (2009) on importance-
  weighted rewards truncated at ``c`` (Thomas, Theocharous & Ghavamzadeh 2015). It holds
  in finite samples, whatever the distribution, given the true logging propensities and
  the reward range: ``X_i = w_i (r_i - r_min)`` is non-negative with mean
  ``V(pi) - r_min``, and ``min(X_i, c)`` is bounded in ``[0, c]`` with a mean no larger,
  so its lower bound is one for ``V(pi)``. ``c`` is chosen on a random ``1/20`` of the rounds
  (maximising the bound they predict), and the bound is computed on the rest.

:func:`sequential_lower_bound` gives the t and bootstrap bounds of the multi-visit estimators
(PDIS, WPDIS, sequential DR, WDR), resampling whole episodes.

:func:`select_policy` scores each candidate by its estimated value or its lower bound,
refuses candidates that put mass on masked drugs, and (``baseline=``) keeps the baseline,
e.g. the clinicians, unless a candidate's lower bound exceeds the baseline's estimated
value (safe policy improvement). :mod:`benchmarks.bench_ope_selection` evaluates the
rules on the simulator: rank correlation with the truth, regret of the selected policy,
how often a policy worse than the clinicians is selected.

References
----------
Maurer A, Pontil M. Empirical Bernstein bounds and sample variance penalization. COLT 2009.
Thomas PS, Theocharous G, Ghavamzadeh M. High confidence off-policy evaluation. AAAI 2015.
Thomas PS, Theocharous G, Ghavamzadeh M. High confidence policy improvement. ICML 2015.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from causalrx.exceptions import ValidationError
from causalrx.ope.estimators import DR, IPS
from causalrx.ope.inference import Bootstrap, influence_values
from causalrx.ope.inputs import mask_violation_rate, prepare

METHODS = ("t", "bootstrap", "bernstein")


@dataclass(frozen=True)
class LowerBound:
    """A one-sided ``1 - alpha`` lower bound of a policy's value, with the point estimate it belongs to."""

    estimator: str
    value: float
    lower_bound: float
    alpha: float
    method: str
    n_rounds: int
    params: dict

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"estimator": self.estimator, "value": self.value, "lower_bound": self.lower_bound,
                              "alpha": self.alpha, "method": self.method, "n_rounds": self.n_rounds, **self.params}])  # fmt: skip


def bernstein_lower_bound(x: np.ndarray, upper: float, alpha: float) -> float:
    """Maurer & Pontil's empirical Bernstein lower bound of ``E[X]`` for ``X`` in ``[0, upper]``, probability ``1 - alpha``.

    ``mean - sqrt(2 var ln(2 / alpha) / n) - 7 upper ln(2 / alpha) / (3 (n - 1))``, with the
    unbiased sample variance (Theorem 4, one-sided form as used by Thomas et al. 2015).
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n < 2:
        raise ValidationError(f"n_rounds: an empirical Bernstein bound needs at least 2 rounds, got {n}")
    log_term = math.log(2.0 / alpha)
    var = float(x.var(ddof=1))
    return float(x.mean() - math.sqrt(2.0 * var * log_term / n) - 7.0 * upper * log_term / (3.0 * (n - 1)))


def _truncated_bound(x: np.ndarray, alpha: float, rng: np.random.Generator, share: float = 0.05) -> tuple[float, float]:
    """Thomas et al.'s bound: choose the truncation ``c`` on ``share`` of the rounds, bound the mean of ``min(x, c)`` on the rest."""
    n = len(x)
    pick = rng.permutation(n)
    n_pick = max(2, int(round(share * n)))
    if n - n_pick < 2:
        raise ValidationError(f"n_rounds: the Bernstein bound needs more rounds, got {n}")
    first, rest = x[pick[:n_pick]], x[pick[n_pick:]]
    m = len(rest)
    log_term = math.log(2.0 / alpha)

    def predicted(c: float) -> float:  # the bound the held-out rounds would give, from the first rounds' moments
        y = np.minimum(first, c)
        return float(y.mean() - 7.0 * c * log_term / (3.0 * (m - 1)) - math.sqrt(2.0 * log_term * y.var(ddof=1) / m))

    grid = np.unique(np.quantile(first, np.linspace(0.5, 1.0, 26)))
    grid = grid[grid > 0]
    if not len(grid):  # every value 0: the mean of min(x, c) is 0 for any c
        return 0.0, 0.0
    c = float(max(grid, key=predicted))
    return bernstein_lower_bound(np.minimum(rest, c), c, alpha), c


def lower_bound(feedback, action_dist, estimated_rewards=None, *, method: str = "t", estimator=None, alpha: float = 0.05,
                reward_range: tuple[float, float] | None = None, logging_dist=None, n_bootstrap: int = 2000,
                allow_mask_violation: bool = False, random_state=0) -> LowerBound:  # fmt: skip
    """A one-sided ``1 - alpha`` lower bound of the value of ``action_dist`` (n, k) on one-step logged data.

    Parameters
    ----------
    method : {"t", "bootstrap", "bernstein"}
        See the module docstring. ``"bernstein"`` uses importance sampling (the estimator is
        IPS) and needs ``reward_range`` (the smallest and largest possible reward) and the
        logging propensities (logged or ``logging_dist``); it is only as valid as they are.
    estimator : one-step estimator, optional
        For ``"t"`` and ``"bootstrap"``; default :class:`~causalrx.ope.DR` when
        ``estimated_rewards`` are given, else :class:`~causalrx.ope.IPS`.
    alpha : float
        The bound holds with probability ``1 - alpha`` (one-sided).
    random_state : int, optional
        Bootstrap resamples, or the Bernstein bound's split.
    """
    if method not in METHODS:
        raise ValidationError(f"method: expected one of {METHODS}, got {method!r}")
    check_one_sided_alpha(alpha)
    if method == "bernstein":
        if reward_range is None or len(reward_range) != 2 or not np.all(np.isfinite(reward_range)) or reward_range[0] >= reward_range[1]:
            raise ValidationError(f"reward_range: the Bernstein bound needs (smallest, largest) possible reward, got {reward_range!r}")
        p = prepare(feedback, action_dist, None, logging_dist=logging_dist, allow_mask_violation=allow_mask_violation)
        if p.propensity_source == "estimated":
            raise ValidationError("logging_dist: the Bernstein bound needs the true logging propensities (logged pscore or "
                                  "logging_dist); with estimated ones it has no guarantee, use method='t' or 'bootstrap'")  # fmt: skip
        lo, hi = float(reward_range[0]), float(reward_range[1])
        if (p.reward < lo - 1e-12).any() or (p.reward > hi + 1e-12).any():
            raise ValidationError(f"reward_range: {int(((p.reward < lo) | (p.reward > hi)).sum())} reward(s) fall outside {reward_range}")
        x = p.weight * (p.reward - lo)
        bound, c = _truncated_bound(x, alpha, np.random.default_rng(random_state))
        return LowerBound(estimator="IPS", value=float(x.mean() + lo), lower_bound=bound + lo, alpha=alpha, method=method,
                          n_rounds=len(x), params={"truncation": c})  # fmt: skip
    est = estimator if estimator is not None else (DR() if estimated_rewards is not None else IPS())
    p = prepare(feedback, action_dist, estimated_rewards, needs_rewards=est.needs_rewards, logging_dist=logging_dist,
                allow_mask_violation=allow_mask_violation)  # fmt: skip
    columns, combine, params = est.columns(p)
    return _bound(est.name, columns, combine, method, alpha, n_bootstrap, random_state, params)


def sequential_lower_bound(trajectories, action_dist, q_values=None, *, estimator=None, method: str = "t", alpha: float = 0.05,
                           logging_dist=None, n_bootstrap: int = 2000, allow_mask_violation: bool = False,
                           random_state=0) -> LowerBound:  # fmt: skip
    """A one-sided ``1 - alpha`` lower bound of a policy's value on multi-visit episodes.

    ``estimator`` is one of :mod:`causalrx.ope.sequential` (default :class:`~causalrx.ope.sequential.WDR`
    with ``q_values``, e.g. :meth:`~causalrx.ope.fqe.FQE.cross_fit_q_values`, else
    :class:`~causalrx.ope.sequential.WPDIS`); ``method`` is ``"t"`` (Student t on the
    episodes' influence values) or ``"bootstrap"`` (the ``alpha`` quantile over resampled
    episodes). Both are approximate, as for :func:`lower_bound`.
    """
    from causalrx.ope.sequential import WDR, WPDIS, prepare_sequential

    if method not in ("t", "bootstrap"):
        raise ValidationError(f"method: expected 't' or 'bootstrap' for episodes, got {method!r}")
    check_one_sided_alpha(alpha)
    est = estimator if estimator is not None else (WDR() if q_values is not None else WPDIS())
    m = prepare_sequential(trajectories, action_dist, q_values, logging_dist=logging_dist, needs_q=est.needs_q,
                           allow_mask_violation=allow_mask_violation, random_state=random_state)  # fmt: skip
    columns, combine = est.columns(m)
    return _bound(est.name, columns, combine, method, alpha, n_bootstrap, random_state, {"gamma": est.gamma})


def check_one_sided_alpha(alpha) -> None:
    if not isinstance(alpha, (int, float, np.floating)) or not 0 < alpha < 0.5:
        raise ValidationError(f"alpha: expected a level in (0, 0.5) for a one-sided bound, e.g. 0.05, got {alpha!r}")


def _bound(name, columns, combine, method, alpha, n_bootstrap, random_state, params) -> LowerBound:
    """The t or bootstrap lower bound of ``combine(column means)``."""
    value = float(combine(columns.mean(axis=0)))
    n = len(columns)
    if method == "t":
        se = float(influence_values(columns, combine).std(ddof=1) / np.sqrt(n))
        bound = value - float(student_t.ppf(1 - alpha, n - 1)) * se
    else:
        means = Bootstrap(n_bootstrap=n_bootstrap, random_state=random_state).replicate_means(columns)
        replicate = np.asarray(combine(means), dtype=float)
        bound = float(np.quantile(replicate[np.isfinite(replicate)], alpha))
    return LowerBound(estimator=name, value=value, lower_bound=bound, alpha=alpha, method=method, n_rounds=n, params=params)


@dataclass(frozen=True)
class Selection:
    """The outcome of :func:`select_policy`: ``chosen`` (a candidate's name, or the baseline's) and ``table``."""

    chosen: str
    table: pd.DataFrame
    criterion: str


def select_policy(feedback, policies: dict, estimated_rewards=None, *, criterion: str = "lower_bound", method: str = "t",
                  estimator=None, baseline: str | None = None, alpha: float = 0.05, reward_range=None, logging_dist=None,
                  random_state=0) -> Selection:  # fmt: skip
    """Choose a policy among ``{name: action_dist (n, k)}`` by estimated value or by lower bound.

    ``criterion="value"`` picks the largest estimate; ``"lower_bound"`` the largest one-sided
    ``1 - alpha`` bound (``method`` as in :func:`lower_bound`), which prefers a policy whose
    advantage is well supported by the data over one whose estimate rests on a few large
    weights. A candidate that puts mass on a drug the safety mask forbids is never chosen
    (``table.masked``). With ``baseline`` (the name of one of ``policies``, e.g. the
    clinicians), another candidate is chosen only when its lower bound exceeds the
    baseline's estimated value; otherwise the baseline is kept (safe policy improvement,
    Thomas et al. 2015). The table lists every candidate's value, bound and rank.
    """
    if criterion not in ("value", "lower_bound"):
        raise ValidationError(f"criterion: expected 'value' or 'lower_bound', got {criterion!r}")
    if not isinstance(policies, dict) or not policies:
        raise ValidationError("policies: expected a non-empty {name: action_dist}")
    if baseline is not None and baseline not in policies:
        raise ValidationError(f"baseline: {baseline!r} is not one of the policies {list(policies)}")
    rows = []
    mask = getattr(feedback, "mask", None)
    for name, dist in policies.items():
        dist = np.asarray(dist, dtype=float)
        masked = bool(mask_violation_rate(dist, mask, True, "") or 0.0)  # the audit's own test of mass on a masked drug
        lb = lower_bound(feedback, dist, estimated_rewards, method=method, estimator=estimator, alpha=alpha,
                         reward_range=reward_range, logging_dist=logging_dist, allow_mask_violation=True,
                         random_state=random_state)  # fmt: skip
        rows.append({"policy": name, "value": lb.value, "lower_bound": lb.lower_bound, "masked": masked})
    table = pd.DataFrame(rows)
    score = table["value"] if criterion == "value" else table["lower_bound"]
    eligible = ~table["masked"]
    if not eligible.any():
        raise ValidationError("policies: every candidate puts mass on a masked (unsafe) drug; none can be chosen")
    table["score"] = score
    table["rank"] = score.where(eligible).rank(ascending=False, method="min")
    best = table.loc[score.where(eligible).idxmax()]
    chosen = str(best["policy"])
    if baseline is not None and chosen != baseline:
        base = table.set_index("policy").loc[baseline]
        if not best["lower_bound"] > base["value"]:
            chosen = baseline
    return Selection(chosen=chosen, table=table, criterion=criterion)


__all__ = ["LowerBound", "Selection", "bernstein_lower_bound", "lower_bound", "select_policy", "sequential_lower_bound"]
