"""What a simulated cohort looks like: counts, missingness, treatments, naive vs true effects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from causalrx.data.simulate import SimulatedCohort
from causalrx.disclaimer import DISCLAIMER


@dataclass(frozen=True)
class CohortSummary:
    """Tables describing a cohort; ``effects`` compares naive contrasts with the truth.

    Attributes
    ----------
    counts : dict
        Patients, drugs, visits, and patients with each modality.
    missingness : DataFrame
        Per modality: patients present, share present, share of missing cells among present.
    treatments : DataFrame
        Per drug at baseline: logged count and share, and the share of those prescriptions
        that were truly contraindicated.
    effects : DataFrame
        Per drug vs the reference arm: naive difference in mean net reward and in efficacy
        (logged data), the stated population ATE, this sample's ATE, and the naive bias.
    """

    counts: dict
    missingness: pd.DataFrame
    treatments: pd.DataFrame
    effects: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        return self.effects


def summarise_cohort(sim: SimulatedCohort) -> CohortSummary:
    """Summarise a simulated cohort (visit 0 for treatments and effects)."""
    cohort, truth = sim.cohort, sim.truth
    presence = cohort.modality_presence()
    counts = {
        "patients": cohort.n_patients,
        "drugs": cohort.n_actions,
        "visits": cohort.n_visits,
        **{f"with_{m}": int(presence[m].sum()) for m in presence.columns},
    }
    rows = []
    for modality in presence.columns:
        table = getattr(cohort, modality)
        if modality == "ecg" or table is None:
            share_missing = 0.0 if table is not None else np.nan
        else:
            values = table.drop(columns=["patient_id"])
            share_missing = float(values.isna().to_numpy().mean())
        rows.append(
            {
                "modality": modality,
                "patients_present": int(presence[modality].sum()),
                "share_present": float(presence[modality].mean()),
                "share_missing_cells": share_missing,
            }
        )
    missingness = pd.DataFrame(rows)

    action = cohort.logged_actions(0)
    k = cohort.n_actions
    n_by_drug = np.bincount(action, minlength=k)
    contra = truth.contraindicated[np.arange(len(action)), action]
    treatments = pd.DataFrame(
        {
            "drug": cohort.action_names,
            "n": n_by_drug,
            "share": n_by_drug / len(action),
            "share_contraindicated": np.bincount(action, weights=contra, minlength=k) / np.maximum(n_by_drug, 1),
        }
    )

    efficacy = cohort.outcome("efficacy", 0)
    reward = efficacy - truth.harm_weight * cohort.outcome("adverse_event", 0)
    ref = cohort.reference_index

    def naive(y):
        means = np.bincount(action, weights=y, minlength=k) / np.maximum(n_by_drug, 1)
        return np.where(n_by_drug > 0, means - means[ref], np.nan)

    effects = pd.DataFrame(
        {
            "drug": cohort.action_names,
            "naive_net": naive(reward),
            "true_ate_net": truth.ate_net,
            "sample_ate_net": truth.ite_net.mean(axis=0),
            "naive_efficacy": naive(efficacy),
            "true_ate_efficacy": truth.ate_efficacy,
        }
    )
    effects["naive_bias_net"] = effects["naive_net"] - effects["sample_ate_net"]
    return CohortSummary(counts=counts, missingness=missingness, treatments=treatments, effects=effects.iloc[1:].reset_index(drop=True))


def plot_effects(summary: CohortSummary):
    """Dot plot: naive contrast vs true ATE (net reward) per drug. Returns a matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    eff = summary.effects
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(eff) + 1.6))
    y = np.arange(len(eff))
    ax.scatter(eff["true_ate_net"], y, marker="o", s=60, label="true ATE (stated)", zorder=3)
    ax.scatter(eff["naive_net"], y, marker="x", s=60, label="naive difference (logged)", zorder=3)
    for yi, (a, b) in enumerate(zip(eff["true_ate_net"], eff["naive_net"])):
        ax.plot([a, b], [yi, yi], color="grey", lw=1)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, eff["drug"])
    ax.invert_yaxis()
    ax.set_xlabel("effect on net reward vs reference arm")
    ax.set_title("Confounding: naive contrasts vs true effects")
    ax.legend(loc="best", fontsize=8)
    fig.text(0.01, 0.005, "Decision support only; not a prescription.", fontsize=7, color="grey")
    fig.tight_layout()
    return fig


def to_markdown(summary: CohortSummary, config: dict) -> str:
    """A short Markdown report of the summary, headed by the decision-support statement."""
    lines = [
        "# causalrx run report",
        "",
        f"> {DISCLAIMER}",
        "",
        "## Cohort",
        "",
        *[f"- {key.replace('_', ' ')}: {value}" for key, value in summary.counts.items()],
        "",
        "## Modalities and missingness",
        "",
        summary.missingness.to_markdown(index=False, floatfmt=".3f"),
        "",
        "## Logged treatments (baseline visit)",
        "",
        summary.treatments.to_markdown(index=False, floatfmt=".3f"),
        "",
        "## Naive versus true effects (net reward vs reference arm)",
        "",
        "The naive contrast compares mean outcomes between logged arms; its bias is what",
        "confounding by the clinicians' choices does. Later stages (effects, policies, OPE)",
        "correct for it.",
        "",
        summary.effects.to_markdown(index=False, floatfmt=".3f"),
        "",
        "![naive vs true effects](effects.png)",
        "",
        "## Configuration",
        "",
        "```",
        *[f"{k}: {v}" for k, v in config.items()],
        "```",
        "",
    ]
    return "\n".join(lines)
