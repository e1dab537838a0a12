"""``evaluate_risk``: every risk metric with a bootstrap interval, and the calibration plot."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from causalrx.exceptions import ValidationError
from causalrx.risk import metrics as m
from causalrx.risk.inference import stratified_bootstrap


@dataclass(frozen=True)
class RiskReport:
    """Metrics of one risk model on held-out patients.

    Attributes
    ----------
    metrics : DataFrame
        ``metric, estimate, lower, upper, se`` for AUROC, AUPRC, Brier, ECE, sensitivity,
        specificity (at ``threshold``) and, with survival data, the C-index.
    calibration : DataFrame
        Per-bin mean prediction, observed rate and count.
    strata : DataFrame
        Patients and observed event rate per risk stratum.
    """

    name: str
    n: int
    prevalence: float
    threshold: float
    metrics: pd.DataFrame
    calibration: pd.DataFrame
    strata: pd.DataFrame
    alpha: float = 0.05
    extra: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        frame = self.metrics.copy()
        frame.insert(0, "model", self.name)
        return frame

    def value(self, metric: str) -> float:
        row = self.metrics.loc[self.metrics["metric"] == metric, "estimate"]
        if row.empty:
            raise ValidationError(f"metric: {metric!r} is not in this report; it has {self.metrics['metric'].tolist()}")
        return float(row.iloc[0])


def evaluate_risk(
    y,
    p,
    *,
    name: str = "model",
    threshold: float = 0.5,
    time=None,
    event=None,
    n_bins: int = 10,
    strata_cutoffs=(0.1, 0.2),
    n_bootstrap: int = 500,
    alpha: float = 0.05,
    random_state=0,
) -> RiskReport:
    """Discrimination, calibration and threshold metrics with stratified-bootstrap CIs.

    Parameters
    ----------
    y : array (n,)
        Observed 0/1 outcome.
    p : array (n,)
        Predicted probability of ``y = 1``.
    threshold : float
        Risk above which a patient is flagged (sensitivity / specificity).
    time, event : array (n,), optional
        Follow-up time and event indicator; adds Harrell's C-index of ``p``.
    n_bins : int
        Equal-width calibration bins (ECE and the curve).
    strata_cutoffs : tuple of float
        Cut-offs of the low / medium / high risk strata.
    n_bootstrap, alpha, random_state
        Percentile bootstrap within outcome classes, ``1 - alpha`` intervals, seed.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(size=400); y = (rng.uniform(size=400) < p).astype(int)
    >>> report = evaluate_risk(y, p, n_bootstrap=50)
    >>> 0.7 < report.value("auroc") < 0.9
    True
    """
    y, p = m.check_binary(y, p)
    if not 0 < threshold < 1:
        raise ValidationError(f"threshold: expected a probability in (0, 1), got {threshold!r}")
    stats = {
        "auroc": lambda r: roc_auc_score(y[r], p[r]),
        "auprc": lambda r: average_precision_score(y[r], p[r]),
        "brier": lambda r: np.mean((p[r] - y[r]) ** 2),
        "ece": lambda r: m.expected_calibration_error(y[r], p[r], n_bins),
        "sensitivity": lambda r: np.mean(p[r][y[r] == 1] >= threshold),
        "specificity": lambda r: np.mean(p[r][y[r] == 0] < threshold),
    }
    if time is not None or event is not None:
        if time is None or event is None or len(time) != len(y) or len(event) != len(y):
            raise ValidationError("time and event: give both, one value per patient, for the C-index")
        time, event = np.asarray(time, dtype=float), np.asarray(event)
        stats["c_index"] = lambda r: m.concordance_index(time[r], event[r], p[r])
    table = stratified_bootstrap(y, stats, n_bootstrap=n_bootstrap, alpha=alpha, random_state=random_state)
    calibration = pd.DataFrame(m.calibration_bins(y, p, n_bins))
    stratum = m.risk_strata(p, strata_cutoffs)
    strata = (
        pd.DataFrame({"stratum": stratum, "y": y, "p": p})
        .groupby("stratum", sort=False)
        .agg(patients=("y", "size"), observed_rate=("y", "mean"), mean_predicted=("p", "mean"))
        .reindex(["low", "medium", "high"])
        .dropna(how="all")
        .reset_index()
    )
    return RiskReport(name=name, n=len(y), prevalence=float(y.mean()), threshold=float(threshold), metrics=table,
                      calibration=calibration, strata=strata, alpha=alpha)  # fmt: skip


def plot_calibration(reports, ax=None):
    """Reliability diagram of one or several :class:`RiskReport` (returns the figure)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    reports = [reports] if isinstance(reports, RiskReport) else list(reports)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 5))
    else:
        fig = ax.figure
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
    for r in reports:
        c = r.calibration
        ece = r.value("ece")
        ax.plot(c["predicted"], c["observed"], marker="o", label=f"{r.name} (ECE {ece:.3f})")
    ax.set_xlabel("mean predicted risk")
    ax.set_ylabel("observed event rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Calibration")
    fig.tight_layout()
    return fig
