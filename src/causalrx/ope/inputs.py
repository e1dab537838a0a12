"""The one input checker of the one-step estimators, and the weight diagnostics they all report."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from causalrx.data.feedback import BanditFeedback
from causalrx.effects.propensity import PropensityModel
from causalrx.exceptions import PositivityError, ValidationError


class OverlapWarning(UserWarning):
    """Poor overlap between the target and logging policies: estimates may be unstable.

    Attributes ``metric``, ``value`` and ``threshold`` say which check failed.
    """

    def __init__(self, message: str, metric: str, value: float, threshold: float):
        super().__init__(message)
        self.metric, self.value, self.threshold = metric, value, threshold

    def __reduce__(self):
        return (OverlapWarning, (str(self), self.metric, self.value, self.threshold))


@dataclass(frozen=True)
class WeightDiagnostics:
    """Importance-weight diagnostics of one target policy on one logged data set.

    ``ess`` is Kish's effective sample size ``(sum w)^2 / sum w^2``; ``share_low_pscore``
    the share of logged decisions whose logging probability is below ``low_pscore``;
    ``mask_violation_rate`` the share of rounds where the target policy puts mass on a
    masked drug (only computed when allowed to audit); ``target_mass_low_support`` the
    target policy's mean mass on drugs the logger almost never chose (needs the full
    logging distribution).
    """

    n_rounds: int
    ess: float
    max_weight: float
    mean_weight: float
    weight_percentiles: dict
    share_low_pscore: float
    low_pscore: float
    mask_violation_rate: float | None = None
    target_mass_low_support: float | None = None
    warnings: tuple[OverlapWarning, ...] = field(default=())

    @property
    def ess_ratio(self) -> float:
        return self.ess / self.n_rounds

    def to_frame(self) -> pd.DataFrame:
        row = {
            "n_rounds": self.n_rounds, "ess": self.ess, "ess_ratio": self.ess_ratio, "max_weight": self.max_weight,
            "mean_weight": self.mean_weight, "share_low_pscore": self.share_low_pscore,
            "mask_violation_rate": self.mask_violation_rate, "target_mass_low_support": self.target_mass_low_support,
            **{f"weight_p{k}": v for k, v in self.weight_percentiles.items()}, "warnings": len(self.warnings),
        }  # fmt: skip
        return pd.DataFrame([row])


def no_weights(n_rounds: int) -> WeightDiagnostics:
    """Diagnostics of an estimator that uses no importance weights (FQE, DM): every weight figure is NaN, not a
    flattering effective sample size of n from weights of one."""
    nan = float("nan")
    return WeightDiagnostics(n_rounds=int(n_rounds), ess=nan, max_weight=nan, mean_weight=nan, weight_percentiles={},
                             share_low_pscore=nan, low_pscore=nan)  # fmt: skip


def weight_diagnostics(w, pscore, *, low_pscore=0.01, min_ess_ratio=0.1, mask_violation_rate=None, target_mass_low_support=None):
    n = len(w)
    top = float(w.max()) if n else 0.0
    scaled = w / top if top > 0 else w  # scaled first: huge weights must not overflow w**2
    ess = float(scaled.sum() ** 2 / max(np.sum(scaled**2), 1e-300))
    share_low = float(np.mean(pscore < low_pscore))
    found = []
    if ess / n < min_ess_ratio:
        found.append(OverlapWarning(
            f"effective sample size is {ess:.0f} of {n} rounds ({ess / n:.1%} < {min_ess_ratio:.0%}): "
            "the target policy is far from the logging policy", "ess_ratio", ess / n, min_ess_ratio))  # fmt: skip
    if share_low > 0.05:
        found.append(OverlapWarning(
            f"{share_low:.1%} of logged decisions have a logging probability below {low_pscore}", "share_low_pscore",
            share_low, 0.05))  # fmt: skip
    if target_mass_low_support is not None and target_mass_low_support > 0.05:
        found.append(OverlapWarning(
            f"the target policy puts {target_mass_low_support:.1%} of its mass on drugs the logger chose with "
            f"probability below {low_pscore}", "target_mass_low_support", target_mass_low_support, 0.05))  # fmt: skip
    total = float(w.sum())
    if n >= 20 and total > 0 and float(w.max()) / total > 0.5:
        i = int(w.argmax())
        found.append(OverlapWarning(
            f"one round (index {i}, logging probability {pscore[i]:.3g}) carries {w[i] / total:.1%} of the total importance "
            f"weight (weight {w[i]:.3g}): the estimate rests on it; check that propensity, clip the weights or use a "
            "self-normalised estimator", "max_weight_share", w[i] / total, 0.5))  # fmt: skip
    q = np.percentile(w, [50, 90, 99, 99.9])
    return WeightDiagnostics(
        n_rounds=n, ess=ess, max_weight=float(w.max()), mean_weight=float(w.mean()),
        weight_percentiles={"50": q[0], "90": q[1], "99": q[2], "99.9": q[3]}, share_low_pscore=share_low,
        low_pscore=low_pscore, mask_violation_rate=mask_violation_rate, target_mass_low_support=target_mass_low_support,
        warnings=tuple(found),
    )  # fmt: skip


@dataclass(frozen=True, eq=False)
class Prepared:
    """Validated per-round quantities shared by every estimator for one target policy."""

    weight: np.ndarray  # pi_e(a_i | x_i) / pscore_i
    reward: np.ndarray
    pscore: np.ndarray
    q_logged: np.ndarray | None  # q(x_i, a_i)
    q_policy: np.ndarray | None  # sum_a pi_e(a | x_i) q(x_i, a)
    propensity_source: str
    diagnostics: WeightDiagnostics


def _finite_matrix(name: str, values, n: int, k: int) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.shape != (n, k):
        raise ValidationError(f"{name}: expected shape ({n}, {k}) (rounds x drugs), got {values.shape}")
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise ValidationError(f"{name}: {int(bad.sum())} row(s) contain NaN or infinite values")
    return values


def check_action_dist(action_dist, n: int, k: int, name: str = "action_dist") -> np.ndarray:
    dist = _finite_matrix(name, action_dist, n, k)
    neg = (dist < -1e-12).any(axis=1)
    if neg.any():
        raise ValidationError(f"{name}: {int(neg.sum())} row(s) have negative probabilities")
    off = np.abs(dist.sum(axis=1) - 1) > 1e-6
    if off.any():
        raise ValidationError(f"{name}: {int(off.sum())} row(s) do not sum to 1 (e.g. row {int(np.flatnonzero(off)[0])})")
    return np.clip(dist, 0.0, None)


def mask_violation_rate(dist: np.ndarray, mask: np.ndarray | None, allow: bool, where: str) -> float | None:
    """Share of rows where the target policy puts mass on a masked drug (None without a mask).

    Refuses such a policy unless ``allow``; ``where`` formats the count, e.g. ``"in {} round(s)"``.
    """
    if mask is None:
        return None
    on_masked = (dist * ~mask).sum(axis=1) > 1e-12
    if on_masked.any() and not allow:
        raise ValidationError(
            f"action_dist: the target policy puts probability on a masked (unsafe) drug {where.format(int(on_masked.sum()))}; "
            "mask it first, or pass allow_mask_violation=True to audit the violation rate"
        )
    return float(on_masked.mean())


def from_problem(feedback, action_dist, estimated_rewards=None, logging_dist=None):
    """A :class:`~causalrx.data.problem.DecisionProblem` becomes its feedback; DataFrames of
    patient ids x drug names (a policy's ``action_dist(problem)``, a reward model's
    predictions) are matched to it by label, and its propensities serve as the logging
    distribution. Anything else passes through unchanged."""
    from causalrx.data.problem import DecisionProblem, label_positions

    if not isinstance(feedback, DecisionProblem):
        return feedback, action_dist, estimated_rewards, logging_dist
    problem = feedback

    def aligned(name, values):
        if not isinstance(values, pd.DataFrame):
            return values
        rows = label_positions(f"{name}.index", values.index, problem.patient_ids, "patient id")
        cols = label_positions(f"{name}.columns", values.columns, problem.drugs, "drug")
        return values.to_numpy(dtype=float)[np.ix_(rows, cols)]

    logging_dist = problem.propensity if logging_dist is None else aligned("logging_dist", logging_dist)
    return problem.feedback(), aligned("action_dist", action_dist), aligned("estimated_rewards", estimated_rewards), logging_dist


def prepare(
    feedback: BanditFeedback,
    action_dist,
    estimated_rewards=None,
    *,
    needs_rewards: bool = False,
    logging_dist=None,
    allow_mask_violation: bool = False,
    low_pscore: float = 0.01,
    propensity_model: PropensityModel | None = None,
) -> Prepared:
    """Validate the inputs of a one-step estimator and compute the shared per-round quantities.

    Raises
    ------
    ValidationError
        Shapes, NaNs, rows not summing to one, a target policy on masked drugs (unless
        ``allow_mask_violation``), or rewards missing for an estimator that needs them.
    PositivityError
        The target policy puts mass on a drug whose logging probability is exactly zero.
    """
    feedback, action_dist, estimated_rewards, logging_dist = from_problem(feedback, action_dist, estimated_rewards, logging_dist)
    if not isinstance(feedback, BanditFeedback):
        raise ValidationError(f"feedback: expected a DecisionProblem or BanditFeedback, got {type(feedback).__name__}")
    n, k = feedback.n_rounds, feedback.n_actions
    dist = check_action_dist(action_dist, n, k)
    rows = np.arange(n)
    violation = mask_violation_rate(dist, feedback.mask, allow_mask_violation, "in {} round(s)")
    q = None
    if estimated_rewards is not None:
        q = _finite_matrix("estimated_rewards", estimated_rewards, n, k)
    elif needs_rewards:
        raise ValidationError("estimated_rewards: this estimator needs a reward model's (n, k) predictions (see RewardModel)")

    if feedback.pscore is not None:
        pscore, source = feedback.pscore, "logged"
    elif logging_dist is not None:
        logging_dist = check_action_dist(logging_dist, n, k, "logging_dist")
        pscore, source = logging_dist[rows, feedback.action], "given"
    else:
        # a fixed fold split: the same data give the same estimate (``propensity_model`` sets another)
        model = PropensityModel(random_state=0) if propensity_model is None else propensity_model
        logging_dist = model.fit_predict(feedback.context, feedback.action, k)
        pscore, source = logging_dist[rows, feedback.action], "estimated"
    low_support = None
    if logging_dist is not None:
        zero = (dist > 0) & (logging_dist <= 0)
        if zero.any():
            raise PositivityError(
                f"action_dist: the target policy puts mass on a drug with logging probability 0 in "
                f"{int(zero.any(axis=1).sum())} round(s); no estimator can evaluate it there"
            )
        if (pscore <= 0).any():
            raise PositivityError(f"logging_dist: {int((pscore <= 0).sum())} logged drug(s) have probability 0")
        low_support = float((dist * (logging_dist < low_pscore)).sum(axis=1).mean())
    weight = dist[rows, feedback.action] / pscore
    return Prepared(
        weight=weight,
        reward=feedback.reward,
        pscore=pscore,
        q_logged=None if q is None else q[rows, feedback.action],
        q_policy=None if q is None else (dist * q).sum(axis=1),
        propensity_source=source,
        diagnostics=weight_diagnostics(
            weight, pscore, low_pscore=low_pscore, mask_violation_rate=violation, target_mass_low_support=low_support
        ),
    )
