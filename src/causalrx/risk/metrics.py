"""Discrimination and calibration metrics of a risk model, each a plain function.

Binary metrics delegate to scikit-learn where it has them (AUROC, average precision,
Brier score); the concordance index and the expected calibration error are written here
because scikit-learn has neither. Inputs are validated once, by :func:`check_binary`.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from causalrx.exceptions import ValidationError


def check_binary(y, p, *, name: str = "p") -> tuple[np.ndarray, np.ndarray]:
    """``y`` as 0/1 ints and ``p`` as finite floats in [0, 1], same length, both classes present."""
    y = np.asarray(y)
    p = np.asarray(p, dtype=float)
    if y.ndim != 1 or p.ndim != 1 or len(y) != len(p):
        raise ValidationError(f"y and {name}: expected two 1-d arrays of equal length, got shapes {y.shape} and {p.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValidationError(f"y: expected binary labels 0/1, got values {np.unique(y)[:5].tolist()}")
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValidationError(f"{name}: expected probabilities in [0, 1] without NaN")
    y = y.astype(int)
    if y.min() == y.max():
        raise ValidationError(f"y: only class {int(y[0])} is present; discrimination needs both 0 and 1")
    return y, p


def auroc(y, p) -> float:
    """Area under the ROC curve."""
    y, p = check_binary(y, p)
    return float(roc_auc_score(y, p))


def auprc(y, p) -> float:
    """Area under the precision-recall curve, as average precision (step interpolation)."""
    y, p = check_binary(y, p)
    return float(average_precision_score(y, p))


def brier(y, p) -> float:
    """Mean squared difference between the predicted probability and the 0/1 outcome."""
    y, p = check_binary(y, p)
    return float(brier_score_loss(y, p))


def calibration_bins(y, p, n_bins: int = 10, strategy: str = "uniform") -> dict[str, np.ndarray]:
    """Per-bin mean prediction, observed event rate and count (empty bins dropped).

    ``strategy="uniform"`` uses equal-width bins on [0, 1]; ``"quantile"`` equal-count
    bins. The expected calibration error is ``sum_b (n_b / n) |observed_b - predicted_b|``.
    """
    y, p = check_binary(y, p)
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    else:
        raise ValidationError(f"strategy: expected 'uniform' or 'quantile', got {strategy!r}")
    bins = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
    count = np.bincount(bins, minlength=len(edges) - 1)
    keep = count > 0
    predicted = np.bincount(bins, weights=p, minlength=len(edges) - 1)[keep] / count[keep]
    observed = np.bincount(bins, weights=y, minlength=len(edges) - 1)[keep] / count[keep]
    return {"predicted": predicted, "observed": observed, "count": count[keep], "lower_edge": edges[:-1][keep]}


def expected_calibration_error(y, p, n_bins: int = 10, strategy: str = "uniform") -> float:
    """ECE: count-weighted mean absolute gap between observed rate and mean prediction per bin."""
    bins = calibration_bins(y, p, n_bins, strategy)
    return float(np.sum(bins["count"] * np.abs(bins["observed"] - bins["predicted"])) / np.sum(bins["count"]))


def sensitivity_specificity(y, p, threshold: float = 0.5) -> tuple[float, float]:
    """(sensitivity, specificity) of the rule ``p >= threshold``."""
    y, p = check_binary(y, p)
    flagged = p >= threshold
    return float(flagged[y == 1].mean()), float((~flagged[y == 0]).mean())


def concordance_index(time, event, risk) -> float:
    """Harrell's C for right-censored data: higher ``risk`` should mean an earlier event.

    A pair is comparable when the patient with the shorter time had the event (or both
    times tie and only that patient had the event); it is concordant when that patient has
    the higher risk, and ties in risk count one half. O(n log n) with a Fenwick tree over
    risk ranks. Equals ``lifelines.utils.concordance_index(time, -risk, event)``.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event)
    risk = np.asarray(risk, dtype=float)
    if not (time.ndim == event.ndim == risk.ndim == 1 and len(time) == len(event) == len(risk)):
        raise ValidationError("time, event and risk: expected three 1-d arrays of equal length")
    if not (np.isfinite(time).all() and np.isfinite(risk).all()):
        raise ValidationError("time and risk: expected finite values")
    if not np.isin(event, (0, 1)).all():
        raise ValidationError("event: expected 0 (censored) or 1 (event)")
    event = event.astype(bool)
    ranks = np.unique(risk, return_inverse=True)[1]  # 0..m-1
    m = int(ranks.max()) + 1
    tree = np.zeros(m + 1, dtype=np.int64)
    order = np.lexsort((event, -time))  # time descending; at equal time censored (event=0) first
    concordant = 0.0
    comparable = 0
    inserted = 0
    i = 0
    n = len(time)
    while i < n:
        j = i
        while j < n and time[order[j]] == time[order[i]]:
            j += 1
        group = order[i:j]
        censored_here = group[~event[group]]
        for c in censored_here:  # censored at this time count as "still at risk" for events at this time
            inserted = _fenwick_add(tree, ranks[c], inserted)
        for e in group[event[group]]:
            below = _fenwick_prefix(tree, ranks[e])  # at-risk patients with lower risk
            equal = _fenwick_prefix(tree, ranks[e] + 1) - below
            concordant += below + 0.5 * equal
            comparable += inserted
        for e in group[event[group]]:
            inserted = _fenwick_add(tree, ranks[e], inserted)
        i = j
    if comparable == 0:
        raise ValidationError("concordance_index: no comparable pairs (no event before another patient's time)")
    return float(concordant / comparable)


def _fenwick_add(tree: np.ndarray, rank: int, inserted: int) -> int:
    k = int(rank) + 1
    while k < len(tree):
        tree[k] += 1
        k += k & -k
    return inserted + 1


def _fenwick_prefix(tree: np.ndarray, rank: int) -> int:
    """Number of inserted ranks strictly below ``rank``."""
    k, total = int(rank), 0
    while k > 0:
        total += tree[k]
        k -= k & -k
    return int(total)


def risk_strata(p, cutoffs=(0.1, 0.2), labels=("low", "medium", "high")) -> np.ndarray:
    """Label each risk as low / medium / high by fixed cut-offs (``p < c1``, ``c1 <= p < c2``, ``p >= c2``)."""
    cutoffs = np.asarray(cutoffs, dtype=float)
    if len(labels) != len(cutoffs) + 1 or np.any(np.diff(cutoffs) <= 0):
        raise ValidationError(f"cutoffs: expected {len(labels) - 1} increasing values for labels {labels}, got {cutoffs.tolist()}")
    return np.asarray(labels, dtype=object)[np.searchsorted(cutoffs, np.asarray(p, dtype=float), side="right")]
