"""How often the logged (clinician) policy chose a drug that the safety mask forbids."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from causalrx.data.feedback import BanditFeedback
from causalrx.exceptions import ValidationError


@dataclass(frozen=True)
class MaskAudit:
    """Masked logged decisions overall and by drug."""

    n_rounds: int
    n_masked: int
    by_drug: pd.DataFrame

    @property
    def rate(self) -> float:
        return self.n_masked / self.n_rounds

    def to_frame(self) -> pd.DataFrame:
        return self.by_drug


def audit(feedback: BanditFeedback, mask=None) -> MaskAudit:
    """Count logged decisions whose drug is masked (``mask`` or ``feedback.mask``; True = allowed)."""
    mask = feedback.mask if mask is None else np.asarray(mask)
    if mask is None:
        raise ValidationError("mask: audit needs a mask, either passed or stored in the feedback")
    if mask.shape != (feedback.n_rounds, feedback.n_actions) or mask.dtype != bool:
        raise ValidationError(f"mask: expected a boolean array of shape ({feedback.n_rounds}, {feedback.n_actions})")
    masked = ~mask[np.arange(feedback.n_rounds), feedback.action]
    k = feedback.n_actions
    logged = np.bincount(feedback.action, minlength=k)
    n_masked = np.bincount(feedback.action, weights=masked, minlength=k).astype(int)
    by_drug = pd.DataFrame(
        {"drug": feedback.action_names, "logged": logged, "masked": n_masked, "rate": n_masked / np.maximum(logged, 1)}
    )
    return MaskAudit(n_rounds=feedback.n_rounds, n_masked=int(masked.sum()), by_drug=by_drug)
