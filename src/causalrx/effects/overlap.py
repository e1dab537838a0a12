"""Overlap (positivity) diagnostics for k drugs, covariate balance, and Crump-style trimming.

``overlap_report(propensity, action, X)`` summarises how well every drug's patients
overlap with the rest: the share of patients whose propensity for each drug is below a
threshold, per-drug propensity histograms (``plot``), and standardised mean differences
(SMD) of every covariate before and after inverse-propensity weighting.
``trim_overlap`` drops patients in regions of poor overlap and says how many and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from causalrx.exceptions import ValidationError


def _check(propensity, action=None):
    from causalrx.ope.inputs import check_action_dist  # imported here: causalrx.ope imports causalrx.effects

    e = np.asarray(propensity, dtype=float)
    if e.ndim != 2 or e.shape[1] < 2:
        raise ValidationError(f"propensity: expected an (n, k) array with k >= 2 drugs, got shape {e.shape}")
    e = check_action_dist(e, *e.shape, name="propensity")
    if action is not None:
        action = np.asarray(action)
        if action.shape != (len(e),):
            raise ValidationError(f"action: expected shape ({len(e)},) to match propensity, got {action.shape}")
        if action.min() < 0 or action.max() >= e.shape[1]:
            raise ValidationError(f"action: values must lie in 0..{e.shape[1] - 1}")
    return e, action


def standardized_mean_differences(X, action, propensity, names=None, columns=None) -> pd.DataFrame:
    """SMD of every covariate for every drug, before and after inverse-propensity weighting.

    For drug a and covariate j: ``(mean_j among patients on a - mean_j in the whole cohort)
    / sd_j in the whole cohort``, unweighted ("before") and with weights ``1 / e_a(x)``
    among patients on a ("after"; the weighted arm should look like the whole cohort).
    |SMD| < 0.1 is the usual threshold for adequate balance.
    """
    e, action = _check(propensity, action)
    X = X.to_numpy(dtype=float) if isinstance(X, pd.DataFrame) else np.asarray(X, dtype=float)
    columns = columns if columns is not None else [f"x{j}" for j in range(X.shape[1])]
    names = names if names is not None else [f"drug_{a}" for a in range(e.shape[1])]
    mean, sd = X.mean(axis=0), X.std(axis=0, ddof=1)
    sd = np.where(sd > 0, sd, 1.0)
    rows = []
    for a in range(e.shape[1]):
        on = action == a
        if not on.any():
            continue
        w = 1.0 / e[on, a]
        before = (X[on].mean(axis=0) - mean) / sd
        after = (np.average(X[on], axis=0, weights=w) - mean) / sd
        rows.append(pd.DataFrame({"drug": names[a], "covariate": columns, "smd_before": before, "smd_after": after}))
    return pd.concat(rows, ignore_index=True)


@dataclass(frozen=True, eq=False)
class OverlapReport:
    """Per-drug overlap summary; ``table`` has one row per drug, ``balance`` one per (drug, covariate)."""

    table: pd.DataFrame
    balance: pd.DataFrame | None
    propensity: np.ndarray
    action: np.ndarray
    names: tuple[str, ...]
    threshold: float

    def plot(self, path, bins: int = 40) -> Path:
        """Save per-drug histograms of the propensity for that drug, patients on it vs the others."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        k = self.propensity.shape[1]
        cols = min(k, 4)
        rows = int(np.ceil(k / cols))
        fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows), squeeze=False)
        edges = np.linspace(0, 1, bins + 1)
        for a, ax in zip(range(k), axes.ravel(), strict=False):
            on = self.action == a
            ax.hist(self.propensity[~on, a], bins=edges, alpha=0.6, density=True, label="other drugs")
            ax.hist(self.propensity[on, a], bins=edges, alpha=0.6, density=True, label=f"on {self.names[a]}")
            ax.axvline(self.threshold, color="k", lw=0.8, ls="--")
            ax.set_title(f"{self.names[a]}: {self.table.share_below[a]:.1%} below {self.threshold:g}", fontsize=9)
            ax.set_xlabel(f"P({self.names[a]} | x)", fontsize=8)
        for ax in axes.ravel()[k:]:
            ax.set_visible(False)
        axes[0, 0].legend(fontsize=7)
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return path


def overlap_report(propensity, action, X=None, *, names=None, columns=None, threshold: float = 0.05) -> OverlapReport:
    """Overlap diagnostics for every drug.

    ``table`` columns: patients on the drug, mean and minimum propensity among them, the
    share of *all* patients whose propensity for the drug is below ``threshold`` (their
    effect of that drug rests on extrapolation), the largest inverse-propensity weight, the
    effective sample size of the arm's weights, and, when X is given, the largest |SMD|
    before and after weighting.
    """
    e, action = _check(propensity, action)
    k = e.shape[1]
    names = tuple(names) if names is not None else tuple(f"drug_{a}" for a in range(k))
    rows = []
    for a in range(k):
        on = action == a
        w = 1.0 / e[on, a] if on.any() else np.array([np.nan])
        rows.append({
            "drug": names[a], "n_on_drug": int(on.sum()), "mean_propensity_on_drug": float(e[on, a].mean()) if on.any() else np.nan,
            "min_propensity_on_drug": float(e[on, a].min()) if on.any() else np.nan, "share_below": float((e[:, a] < threshold).mean()),
            "max_weight": float(w.max()), "ess": float(w.sum() ** 2 / (w**2).sum()) if on.any() else 0.0,
        })  # fmt: skip
    table = pd.DataFrame(rows)
    balance = None
    if X is not None:
        balance = standardized_mean_differences(X, action, e, names, columns)
        worst = balance.assign(b=balance.smd_before.abs(), w=balance.smd_after.abs()).groupby("drug", sort=False)[["b", "w"]].max()
        table["max_abs_smd_before"] = table.drug.map(worst.b)
        table["max_abs_smd_after"] = table.drug.map(worst.w)
    return OverlapReport(table=table, balance=balance, propensity=e, action=action, names=names, threshold=threshold)


@dataclass(frozen=True, eq=False)
class TrimResult:
    """Which patients to keep, and why the others were dropped.

    ``keep`` boolean (n,); ``threshold`` the rule's cut-off; ``dropped`` a table of the
    dropped patients (row index, the drug with the smallest propensity and its value);
    ``summary`` counts by the logged drug.
    """

    keep: np.ndarray
    rule: str
    threshold: float
    dropped: pd.DataFrame
    summary: pd.DataFrame

    @property
    def n_dropped(self) -> int:
        return int((~self.keep).sum())

    def message(self) -> str:
        return (f"trim_overlap ({self.rule}): dropped {self.n_dropped} of {len(self.keep)} patients "
                f"({self.n_dropped / len(self.keep):.1%}) because {self._why()}")  # fmt: skip

    def _why(self) -> str:
        if self.rule == "crump":
            return f"sum over drugs of 1/propensity exceeded {self.threshold:.3g} (Crump et al. 2009 optimal rule)"
        return f"some drug's propensity was below {self.threshold:g}"


def _crump_gamma(h: np.ndarray) -> float:
    """The cut-off gamma minimising the variance bound of the trimmed ATE, E[h | h <= gamma] / P(h <= gamma).

    Crump et al. (2009) show the minimiser solves ``gamma = 2 E[h | h <= gamma]`` (no trimming
    when ``max h <= 2 E[h]``); minimising the empirical objective directly finds that root.
    """
    hs = np.sort(h)
    i = np.arange(1, len(hs) + 1)
    return float(hs[np.argmin(np.cumsum(hs) / i**2)])


def trim_overlap(propensity, action=None, *, rule: str = "crump", threshold: float | None = None, names=None) -> TrimResult:
    """Trim patients with poor overlap.

    Parameters
    ----------
    rule : {"crump", "min"}
        ``"crump"``: keep patients with ``sum_a 1/e_a(x) <= gamma``, where gamma minimises
        the asymptotic variance of the trimmed ATE (Crump, Hotz, Imbens & Mitnik 2009;
        with two drugs this is their ``alpha <= e(x) <= 1 - alpha`` rule, ``h = 1/(e(1-e))``;
        with k drugs the sum generalises it, as in Yang et al. 2016). ``threshold`` fixes
        gamma instead of solving for it.
        ``"min"``: keep patients whose propensity for every drug is at least ``threshold``
        (default 0.05).
    action : array (n,), optional
        Logged drugs, to count the drops by arm.

    References
    ----------
    Crump RK, Hotz VJ, Imbens GW, Mitnik OA. Dealing with limited overlap in estimation of
    average treatment effects. Biometrika 2009;96(1):187-199. Yang S, Imbens GW, Cui Z, et al.
    Propensity score matching and subclassification in observational studies with
    multi-level treatments. Biometrics 2016;72(4):1055-1065.
    """
    e, action = _check(propensity, action)
    k = e.shape[1]
    names = tuple(names) if names is not None else tuple(f"drug_{a}" for a in range(k))
    if rule == "crump":
        with np.errstate(divide="ignore"):
            h = (1.0 / e).sum(axis=1)
        cut = float(threshold) if threshold is not None else _crump_gamma(h[np.isfinite(h)])
        keep = h <= cut
    elif rule == "min":
        cut = 0.05 if threshold is None else float(threshold)
        if not 0 < cut < 1 / k:
            raise ValidationError(f"threshold: expected a value in (0, 1/k = {1 / k:.3g}) for rule 'min', got {cut}")
        keep = e.min(axis=1) >= cut
    else:
        raise ValidationError(f"rule: expected 'crump' or 'min', got {rule!r}")
    if not keep.any():
        raise ValidationError(f"trim_overlap: the {rule} rule with threshold {cut:.3g} drops every patient")
    idx = np.flatnonzero(~keep)
    worst = e[idx].argmin(axis=1)
    dropped = pd.DataFrame({"row": idx, "lowest_drug": [names[j] for j in worst], "lowest_propensity": e[idx, worst]})
    if action is not None:
        dropped["logged_drug"] = [names[j] for j in action[idx]]
        n = np.bincount(action, minlength=k)
        d = np.bincount(action[idx], minlength=k)
        summary = pd.DataFrame({"drug": names, "n": n, "dropped": d, "share_dropped": np.divide(d, np.maximum(n, 1))})
    else:
        summary = pd.DataFrame({"drug": names, "dropped_lowest": np.bincount(worst, minlength=k)})
    return TrimResult(keep=keep, rule=rule, threshold=cut, dropped=dropped, summary=summary)
