"""What the safety constraints cost or gain, and what the logged clinicians did against them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from causalrx.data.feedback import BanditFeedback
from causalrx.exceptions import ValidationError
from causalrx.ope.estimators import DR, PolicyValue, _results
from causalrx.ope.inference import NormalInterval
from causalrx.ope.inputs import prepare
from causalrx.safety.mask import Mask
from causalrx.safety.scores import restrict


@dataclass(frozen=True)
class ConstraintReport:
    """Logged violations of the mask (overall, by drug, by rule) and the value of the constraint.

    ``difference`` is the estimated value of the constrained policy minus the unconstrained
    one (positive: the constraint gains value), with a paired interval.
    """

    n_rounds: int
    n_logged_masked: int
    by_drug: pd.DataFrame
    by_rule: pd.DataFrame
    unconstrained: PolicyValue
    constrained: PolicyValue
    difference: tuple[float, float, float]  # estimate, lower, upper

    @property
    def logged_masked_rate(self) -> float:
        return self.n_logged_masked / self.n_rounds

    def to_frame(self) -> pd.DataFrame:
        d, lo, hi = self.difference
        rows = [
            {"policy": "unconstrained", "value": self.unconstrained.value, "lower": self.unconstrained.lower, "upper": self.unconstrained.upper},
            {"policy": "constrained", "value": self.constrained.value, "lower": self.constrained.lower, "upper": self.constrained.upper},
            {"policy": "constrained - unconstrained", "value": d, "lower": lo, "upper": hi},
        ]  # fmt: skip
        return pd.DataFrame(rows)


def constraint_report(
    feedback: BanditFeedback,
    mask: Mask,
    action_dist,
    estimated_rewards=None,
    *,
    estimator=None,
    inference=None,
    logging_dist=None,
) -> ConstraintReport:
    """Audit the logged decisions against ``mask`` and value the constraint for one policy.

    ``action_dist`` is the unconstrained policy; its constrained version zeroes masked
    drugs and renormalises (rows left empty go to the reference arm). Both are evaluated
    with ``estimator`` (default :class:`DR`, which needs ``estimated_rewards``) on the same
    rounds, and the difference gets a paired interval from the same resamples or influence values.
    """
    n, k = feedback.n_rounds, feedback.n_actions
    if mask.allowed.shape != (n, k):
        raise ValidationError(f"mask: shape {mask.allowed.shape} does not match the feedback's ({n}, {k})")
    estimator = estimator or DR()
    inference = inference or NormalInterval()
    unmasked = BanditFeedback(feedback.context, feedback.action, feedback.reward, feedback.action_names, feedback.pscore)
    ref = mask.drugs.index(mask.reference)
    constrained_dist = restrict(action_dist, mask.allowed, fallback=ref)
    kwargs = dict(estimated_rewards=estimated_rewards, needs_rewards=estimator.needs_rewards, logging_dist=logging_dist)
    p_free = prepare(unmasked, action_dist, **kwargs)
    p_safe = prepare(unmasked, constrained_dist, **kwargs)
    free, safe = _results([estimator], p_free, inference)[0], _results([estimator], p_safe, inference)[0]
    cols_free, comb_free, _ = estimator.columns(p_free)
    cols_safe, comb_safe, _ = estimator.columns(p_safe)
    m = cols_free.shape[1]
    stacked = np.hstack([cols_safe, cols_free])

    def diff(means):
        return comb_safe(means[..., :m]) - comb_free(means[..., m:])

    lo, hi, _ = inference.interval(stacked, [diff])[0]
    masked_logged = ~mask.allowed[np.arange(n), feedback.action]
    logged = np.bincount(feedback.action, minlength=k)
    masked_by_drug = np.bincount(feedback.action, weights=masked_logged, minlength=k).astype(int)
    by_drug = pd.DataFrame({"drug": feedback.action_names, "logged": logged, "masked": masked_by_drug,
                            "rate": masked_by_drug / np.maximum(logged, 1)})  # fmt: skip
    rule_rows = []
    for firing in mask.firings:
        if firing.rule.action != "contraindicated":
            continue
        hit = np.isin(feedback.action[firing.patients], firing.columns)
        rule_rows.append({"rule_id": firing.rule.id, "logged_violations": int(hit.sum()), "patients_under_rule": len(firing.patients)})
    return ConstraintReport(
        n_rounds=n, n_logged_masked=int(masked_logged.sum()), by_drug=by_drug, by_rule=pd.DataFrame(rule_rows),
        unconstrained=free, constrained=safe, difference=(float(diff(stacked.mean(axis=0))), float(lo), float(hi)),
    )  # fmt: skip
