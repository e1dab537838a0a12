"""The one documented utility that turns clinical outcomes into rewards."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Utility:
    """Net clinical benefit ``reward = efficacy - harm_weight * adverse_event``.

    Higher is better. ``efficacy`` is a continuous benefit score (higher better) and
    ``adverse_event`` a 0/1 indicator (or a probability, for expected rewards), so
    ``harm_weight`` is the number of efficacy units one adverse event costs.

    Parameters
    ----------
    harm_weight : float, default 2.0
        The exchange rate lambda between benefit and harm; must be >= 0.
    """

    harm_weight: float = 2.0

    def __post_init__(self) -> None:
        if not np.isfinite(self.harm_weight) or self.harm_weight < 0:
            raise ValueError(f"Utility.harm_weight must be a finite number >= 0, got {self.harm_weight!r}")

    def __call__(self, efficacy, adverse_event):
        """Reward for the given efficacy and adverse-event values (arrays broadcast)."""
        return np.asarray(efficacy, dtype=float) - self.harm_weight * np.asarray(adverse_event, dtype=float)
