"""Compare several target policies with several estimators: a tidy table and a forest plot."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from causalrx.data.feedback import BanditFeedback
from causalrx.ope.estimators import estimate_all


@dataclass(frozen=True)
class PolicyComparison:
    """``table``: one row per (policy, estimator) with value, CI and diagnostics; ``plot_path``: the saved forest plot."""

    table: pd.DataFrame
    plot_path: Path | None

    def to_frame(self) -> pd.DataFrame:
        return self.table


def compare_policies(
    feedback,
    policies: dict,
    estimated_rewards=None,
    estimators=None,
    *,
    inference=None,
    logging_dist=None,
    true_values: dict | None = None,
    plot_path: str | Path | None = None,
    allow_mask_violation: bool = False,
) -> PolicyComparison:
    """Evaluate every policy ``{name: action_dist (n, k)}`` with every estimator.

    Arguments come in the order of every OPE entry point: ``(feedback, target(s),
    estimated_rewards, estimators)``. ``feedback`` may be a DecisionProblem; then each
    ``action_dist`` may be a DataFrame of patient ids x drug names (matched by label).

    ``true_values`` (on simulated data) adds a ``true_value`` column and marks it on the
    plot. The forest plot is written to ``plot_path`` (PNG/PDF/SVG by suffix) if given.

    A policy that puts mass on a drug the safety mask forbids is refused, unless
    ``allow_mask_violation=True``: then it is evaluated (an audit, e.g. of the clinicians'
    own choices against a rule file) and its rows carry ``mask_violations``, the share of
    decisions with mass on a masked drug.
    """
    frames = []
    for name, dist in policies.items():
        results = estimate_all(feedback, dist, estimated_rewards, estimators, inference=inference, logging_dist=logging_dist,
                               allow_mask_violation=allow_mask_violation)  # fmt: skip
        frame = result_rows(name, results)
        if allow_mask_violation:
            frame["mask_violations"] = results[0].diagnostics.mask_violation_rate
        frames.append(frame)
    table = add_true_values(pd.concat(frames, ignore_index=True), true_values)
    return PolicyComparison(table=table, plot_path=save_policy_plot(table, plot_path))


def result_rows(policy: str, results) -> pd.DataFrame:
    """One row per estimator result of one policy, with its ESS ratio and overlap warnings."""
    frames = []
    for res in results:
        frame = res.to_frame()
        frame.insert(0, "policy", policy)
        frame["ess_ratio"] = res.diagnostics.ess_ratio
        frame["warnings"] = "; ".join(str(w) for w in res.diagnostics.warnings)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def add_true_values(table: pd.DataFrame, true_values: dict | None, oracle_value: float | None = None) -> pd.DataFrame:
    """Add ``true_value`` and ``covered`` (and ``regret`` against ``oracle_value``) when the truth is known."""
    if true_values is not None:
        table["true_value"] = table["policy"].map(true_values)
        table["covered"] = (table["lower"] <= table["true_value"]) & (table["true_value"] <= table["upper"])
        if oracle_value is not None:
            table["regret"] = oracle_value - table["true_value"]
    return table


def save_policy_plot(table: pd.DataFrame, plot_path: str | Path | None, oracle: float | None = None) -> Path | None:
    """Write the forest plot of ``table`` to ``plot_path`` (format by suffix), with the oracle's
    value as a dashed line when given; None when no path is given."""
    if plot_path is None:
        return None
    import matplotlib.pyplot as plt

    path = Path(plot_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = plot_policy_values(table, oracle)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_policy_values(table: pd.DataFrame, oracle: float | None = None):
    """Forest plot of estimated policy values with intervals, grouped by policy, and the
    (masked) oracle's true value as a dashed vertical line when given. Returns a Figure."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    estimators = list(dict.fromkeys(table["estimator"]))
    policies = list(dict.fromkeys(table["policy"]))
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(table) + 0.6 * len(policies) + 1.2))
    colours = plt.cm.tab10(np.linspace(0, 1, 10))
    y, ticks, labels = 0.0, [], []
    for policy in policies:
        rows = table[table["policy"] == policy]
        for _, row in rows.iterrows():
            c = colours[estimators.index(row["estimator"]) % 10]
            ax.errorbar(row["value"], y, xerr=[[row["value"] - row["lower"]], [row["upper"] - row["value"]]], fmt="o", color=c, capsize=3)
            ticks.append(y)
            labels.append(f"{policy} · {row['estimator']}")
            y += 1
        if "true_value" in rows and rows["true_value"].notna().any():
            ax.plot([rows["true_value"].iloc[0]] * 2, [y - len(rows) - 0.4, y - 0.6], color="black", lw=2, label="true value" if policy == policies[0] else None)
        y += 0.8
    if oracle is not None and np.isfinite(oracle):
        ax.axvline(oracle, color="tab:red", ls="--", lw=1.2, label="oracle (true value)")
    ax.set_yticks(ticks, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("estimated policy value (higher is better)")
    level = table["alpha"].iloc[0]
    ax.set_title(f"Off-policy estimates with {1 - level:.0%} intervals")
    if "true_value" in table or oracle is not None:
        ax.legend(loc="best", fontsize=8)
    fig.text(0.01, 0.002, "Decision support only; not a prescription.", fontsize=7, color="grey")
    fig.tight_layout()
    return fig
