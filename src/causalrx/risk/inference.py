"""Uncertainty of risk metrics: the DeLong test and stratified bootstrap intervals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from causalrx.exceptions import ValidationError
from causalrx.risk import metrics as m


@dataclass(frozen=True)
class DeLongResult:
    """Two correlated AUROCs on the same patients and the test of their difference.

    References
    ----------
    DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or more
    correlated receiver operating characteristic curves: a nonparametric approach.
    Biometrics 1988;44(3):837-845. Sun X, Xu W. Fast implementation of DeLong's algorithm
    for comparing the areas under correlated ROC curves. IEEE Signal Process Lett 2014.
    """

    auc: tuple[float, float]
    difference: float
    se: float
    z: float
    p_value: float
    covariance: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [{"auc_1": self.auc[0], "auc_2": self.auc[1], "difference": self.difference, "se": self.se, "z": self.z, "p_value": self.p_value}]
        )


def _placements(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUCs and the structural components V10 (per positive) and V01 (per negative), by midranks."""
    pos, neg = scores[:, y == 1], scores[:, y == 0]
    n1, n0 = pos.shape[1], neg.shape[1]
    both = np.concatenate([pos, neg], axis=1)
    rank_all = rankdata(both, axis=1)
    rank_pos = rankdata(pos, axis=1)
    rank_neg = rankdata(neg, axis=1)
    v10 = (rank_all[:, :n1] - rank_pos) / n0
    v01 = 1.0 - (rank_all[:, n1:] - rank_neg) / n1
    auc = v10.mean(axis=1)
    return auc, v10, v01


def delong_test(y, p1, p2) -> DeLongResult:
    """Test H0: AUROC(p1) = AUROC(p2) for two risk scores of the same patients (two-sided)."""
    y, p1 = m.check_binary(y, p1, name="p1")
    _, p2 = m.check_binary(y, p2, name="p2")
    auc, v10, v01 = _placements(y, np.vstack([p1, p2]))
    s = np.cov(v10) / v10.shape[1] + np.cov(v01) / v01.shape[1]
    var = s[0, 0] + s[1, 1] - 2 * s[0, 1]
    diff = float(auc[0] - auc[1])
    if var <= 0:
        z, p = (0.0, 1.0) if diff == 0 else (np.inf * np.sign(diff), 0.0)
    else:
        z = diff / np.sqrt(var)
        p = 2 * norm.sf(abs(z))
    return DeLongResult(auc=(float(auc[0]), float(auc[1])), difference=diff, se=float(np.sqrt(max(var, 0.0))), z=float(z), p_value=float(p), covariance=s)


def auroc_delong_interval(y, p, alpha: float = 0.05) -> tuple[float, float, float]:
    """AUROC with its DeLong (1988) normal-approximation interval, clipped to [0, 1]."""
    y, p = m.check_binary(y, p)
    auc, v10, v01 = _placements(y, p[None, :])
    se = np.sqrt(v10[0].var(ddof=1) / v10.shape[1] + v01[0].var(ddof=1) / v01.shape[1])
    zq = norm.ppf(1 - alpha / 2)
    return float(auc[0]), float(max(0.0, auc[0] - zq * se)), float(min(1.0, auc[0] + zq * se))


def stratified_bootstrap(y, statistics: dict, *, n_bootstrap: int = 500, alpha: float = 0.05, random_state=0) -> pd.DataFrame:
    """Percentile intervals of several statistics of the same patients.

    ``statistics`` maps a name to a function of the row indices of one resample; rows are
    resampled within each outcome class so every resample keeps both classes. Returns one
    row per statistic: ``estimate`` (on all rows), ``lower``, ``upper``, ``se``.
    """
    y = np.asarray(y)
    if not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 20:
        raise ValidationError(f"n_bootstrap: expected an integer >= 20, got {n_bootstrap!r}")
    rng = np.random.default_rng(random_state)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)]
    full = np.arange(len(y))
    draws = {name: np.empty(n_bootstrap) for name in statistics}
    for b in range(n_bootstrap):
        rows = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
        for name, fn in statistics.items():
            draws[name][b] = fn(rows)
    out = []
    for name, fn in statistics.items():
        d = draws[name]
        out.append(
            {
                "metric": name,
                "estimate": float(fn(full)),
                "lower": float(np.quantile(d, alpha / 2)),
                "upper": float(np.quantile(d, 1 - alpha / 2)),
                "se": float(d.std(ddof=1)),
            }
        )
    return pd.DataFrame(out)
