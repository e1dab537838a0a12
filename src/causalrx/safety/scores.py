"""Turning any score matrix into a policy that can never choose a masked drug.

Every policy in :mod:`causalrx.policy` goes through these helpers, so the mask is applied
in learning as well as at prediction time.
"""

from __future__ import annotations

import numpy as np

from causalrx.data.feedback import check_mask
from causalrx.exceptions import ValidationError, check_number


def _aligned(name: str, values, mask) -> tuple[np.ndarray, np.ndarray]:
    """``values`` as floats and ``mask`` checked against their (n, k) shape by :func:`check_mask`."""
    values = np.asarray(values, dtype=float)
    mask = np.asarray(mask)
    if values.ndim != 2 or mask.shape != values.shape:
        raise ValidationError(f"{name} and mask: expected the same (n, k) shape, got {values.shape} and {mask.shape}")
    return values, check_mask("mask", mask, *values.shape)


def _check(scores, mask) -> tuple[np.ndarray, np.ndarray]:
    scores, mask = _aligned("scores", scores, mask)
    if np.isnan(scores[mask]).any():
        raise ValidationError("scores: NaN score on an allowed drug")
    return scores, mask


def masked_argmax(scores, mask) -> np.ndarray:
    """Index of the best-scoring allowed drug per row (ties: lowest index).

    Never a masked drug, whatever the scores: a row whose allowed scores are all ``-inf``
    gets its first allowed drug; ``+inf`` beats every finite score.
    """
    scores, mask = _check(scores, mask)
    best = np.where(mask, scores, -np.inf).argmax(axis=1)
    stuck = ~mask[np.arange(len(best)), best]  # every allowed score is -inf
    best[stuck] = mask[stuck].argmax(axis=1)
    return best


def masked_greedy(scores, mask) -> np.ndarray:
    """One-hot (n, k) action distribution of :func:`masked_argmax`."""
    best = masked_argmax(scores, mask)
    return np.eye(np.asarray(scores).shape[1])[best]


def masked_softmax(scores, mask, temperature: float = 1.0) -> np.ndarray:
    """Softmax over allowed drugs only; masked drugs get probability exactly 0.

    Stays a distribution for any scores and temperature: drugs scoring ``+inf`` (or
    overflowing to it at a tiny temperature) share the mass; a row whose allowed scores are
    all ``-inf`` is uniform over its allowed drugs.
    """
    check_number("temperature", temperature, inf_ok=True)
    scores, mask = _check(scores, mask)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        z = scores / temperature
    z = np.where(np.isnan(z) & np.isinf(scores), scores, z)  # inf / inf: keep the score's infinity
    z = np.where(mask, z, -np.inf)
    top = z.max(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", over="ignore"):  # rows with an infinite top are replaced below
        e = np.where(mask & np.isfinite(top), np.exp(z - np.where(np.isfinite(top), top, 0.0)), 0.0)
    e = np.where(top == np.inf, (z == np.inf) & mask, e)
    e = np.where(top == -np.inf, mask, e).astype(float)
    return e / e.sum(axis=1, keepdims=True)


def restrict(action_dist, mask, fallback: int) -> np.ndarray:
    """Constrained version of a policy: zero masked drugs and renormalise; rows left with no
    mass go to ``fallback`` (the reference arm's column), which must be allowed in every row."""
    dist, mask = _aligned("action_dist", action_dist, mask)
    if not np.isfinite(dist).all() or (dist < 0).any():
        raise ValidationError("action_dist: expected finite, non-negative probabilities")
    if isinstance(fallback, bool) or not isinstance(fallback, (int, np.integer)) or not 0 <= fallback < dist.shape[1]:
        raise ValidationError(f"fallback: expected a column index in 0..{dist.shape[1] - 1}, got {fallback!r}")
    dist = np.where(mask, dist, 0.0)
    total = dist.sum(axis=1, keepdims=True)
    empty = total[:, 0] <= 0
    if (empty & ~mask[:, fallback]).any():
        raise ValidationError(f"fallback: column {fallback} is masked in {int((empty & ~mask[:, fallback]).sum())} row(s) "
                              "that have no other mass; the fallback must be allowed (the reference arm)")  # fmt: skip
    dist[empty, fallback] = 1.0
    total[empty] = 1.0
    return dist / total
