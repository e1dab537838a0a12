"""Turning any score matrix into a policy that can never choose a masked drug.

Every policy in :mod:`causalrx.policy` goes through these helpers, so the mask is applied
in learning as well as at prediction time.
"""

from __future__ import annotations

import numpy as np

from causalrx.exceptions import ValidationError, check_number


def _check(scores, mask) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=float)
    mask = np.asarray(mask)
    if scores.ndim != 2 or mask.shape != scores.shape:
        raise ValidationError(f"scores and mask: expected the same (n, k) shape, got {scores.shape} and {mask.shape}")
    if mask.dtype != bool:
        raise ValidationError(f"mask: expected dtype bool (True = allowed), got {mask.dtype}")
    if not mask.any(axis=1).all():
        raise ValidationError(f"mask: {int((~mask.any(axis=1)).sum())} row(s) allow no drug; keep the reference arm allowed")
    if np.isnan(scores[mask]).any():
        raise ValidationError("scores: NaN score on an allowed drug")
    return scores, mask


def masked_argmax(scores, mask) -> np.ndarray:
    """Index of the best-scoring allowed drug per row (ties: lowest index)."""
    scores, mask = _check(scores, mask)
    return np.where(mask, scores, -np.inf).argmax(axis=1)


def masked_greedy(scores, mask) -> np.ndarray:
    """One-hot (n, k) action distribution of :func:`masked_argmax`."""
    best = masked_argmax(scores, mask)
    return np.eye(np.asarray(scores).shape[1])[best]


def masked_softmax(scores, mask, temperature: float = 1.0) -> np.ndarray:
    """Softmax over allowed drugs only; masked drugs get probability exactly 0."""
    check_number("temperature", temperature, inf_ok=True)
    scores, mask = _check(scores, mask)
    z = np.where(mask, scores / temperature, -np.inf)
    z -= z.max(axis=1, keepdims=True)
    e = np.where(mask, np.exp(z), 0.0)
    return e / e.sum(axis=1, keepdims=True)


def restrict(action_dist, mask, fallback: int = 0) -> np.ndarray:
    """Constrained version of a policy: zero masked drugs and renormalise; rows left with no
    mass go to ``fallback`` (the reference arm)."""
    dist = np.where(np.asarray(mask), np.asarray(action_dist, dtype=float), 0.0)
    total = dist.sum(axis=1, keepdims=True)
    empty = total[:, 0] <= 0
    dist[empty, fallback] = 1.0
    total[empty] = 1.0
    return dist / total
