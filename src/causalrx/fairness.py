"""Is anyone worse served? Policy values, harm, allocation and masking per subgroup, with intervals.

Each policy's value in a subgroup is the subgroup's mean of its doubly robust per-patient
values ``sum_a pi(a | x_i) Gamma[i, a]`` (``Gamma`` from :func:`causalrx.policy.base.dr_scores`),
so every subgroup of every grouping comes from one set of cross-fitted scores, and the intervals
are those of :func:`causalrx.effects.subgroups.group_effects`: pointwise, and simultaneous over
the whole table. The disparity of a policy within a grouping is its largest gap between two
subgroups, with a 95% interval and Cochran's Q test of equal values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from causalrx.effects.subgroups import _groupings, difference, group_effects, heterogeneity_test
from causalrx.exceptions import ValidationError


@dataclass
class FairnessReport:
    """``values``: value (and harm) per (grouping, subgroup, policy) with intervals;
    ``disparities``: largest gap per (grouping, policy, measure); ``allocation``: share of
    each drug per subgroup and policy, and the share of drugs the safety mask removes;
    ``tiers`` (from :func:`recommendation_fairness` only): share of patients per subgroup,
    drug and tier, with 95% Wilson intervals."""

    values: pd.DataFrame
    disparities: pd.DataFrame
    allocation: pd.DataFrame
    tiers: pd.DataFrame | None = None

    def plot(self, path, measure: str = "value") -> Path:
        """Each policy's value (or harm) per subgroup with its simultaneous interval, one panel per grouping."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        data = self.values[self.values["measure"] == measure]
        groupings = list(dict.fromkeys(data["grouping"]))
        fig, axes = plt.subplots(1, len(groupings), figsize=(4.5 * len(groupings), 3.5), squeeze=False)
        for ax, grouping in zip(axes[0], groupings):
            part = data[data["grouping"] == grouping]
            levels = list(dict.fromkeys(part["subgroup"]))
            policies = list(dict.fromkeys(part["policy"]))
            width = 0.8 / len(policies)
            for p, policy in enumerate(policies):
                rows = part[part["policy"] == policy].set_index("subgroup").reindex(levels)
                x = np.arange(len(levels)) + (p - (len(policies) - 1) / 2) * width
                ax.errorbar(x, rows["estimate"], yerr=[rows["estimate"] - rows["joint_lower"], rows["joint_upper"] - rows["estimate"]],
                            fmt="o", capsize=2, label=policy)  # fmt: skip
            ax.set_xticks(np.arange(len(levels)), levels, rotation=30)
            ax.axhline(0, color="grey", lw=0.8, ls=":")
            ax.set_title(grouping)
            ax.set_ylabel(measure)
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 7), fontsize=8, frameon=False)
        fig.tight_layout(rect=(0, 0.1, 1, 1))
        path = Path(path)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path


def _distributions(policies, n: int, k: int) -> dict[str, np.ndarray]:
    from causalrx.ope.inputs import check_action_dist

    if not isinstance(policies, dict) or not policies:
        raise ValidationError("policies: expected a dict {name: action distribution (n, k)} with at least one policy")
    return {str(name): check_action_dist(dist, n, k, name=f"policies[{name!r}]") for name, dist in policies.items()}


def subgroup_fairness(gamma, policies, groups, *, drugs=None, mask=None, harm_gamma=None, reference=None, truth=None,
                      alpha: float = 0.05, n_bootstrap: int = 2000, random_state=None) -> FairnessReport:  # fmt: skip
    """Value, harm and allocation of every policy in every subgroup, and the largest gap per grouping.

    Parameters
    ----------
    gamma : array (n, k)
        Cross-fitted doubly robust scores of the reward under each drug.
    policies : dict
        ``{name: action distribution (n, k)}`` of the same patients.
    groups : array (n,), Series or DataFrame
        Subgroup labels, as for :func:`~causalrx.effects.subgroups.group_effects` (a missing
        label is a subgroup of its own).
    drugs : sequence of str, optional
        Names of the k drugs.
    mask : bool array (n, k), optional
        The safety mask (True: allowed); adds each subgroup's share of drugs masked.
    harm_gamma : array (n, k), optional
        Doubly robust scores of an adverse-event indicator: adds each policy's harm rate.
    reference : str, optional
        The reference arm (a name in ``drugs``): adds each policy's *benefit*, its value minus
        the value of the reference arm for the same patients. Subgroups differ in prognosis, so
        their values differ under any policy; the benefit asks whether a policy helps some
        subgroups less than others.
    truth : array (n, k), optional
        Expected reward under each drug (simulation): adds the true values, whether the
        intervals cover them, and each subgroup's regret against the masked oracle.
    """
    gamma = np.asarray(gamma, dtype=float)
    if gamma.ndim != 2 or not np.isfinite(gamma).all():
        raise ValidationError(f"gamma: expected finite doubly robust scores of shape (n, k), got shape {gamma.shape}")
    n, k = gamma.shape
    drugs = [f"drug {j}" for j in range(k)] if drugs is None else [str(d) for d in drugs]
    if len(drugs) != k:
        raise ValidationError(f"drugs: expected {k} names, got {len(drugs)}")
    dists = _distributions(policies, n, k)
    names = list(dists)
    frame = _groupings(groups, n)
    measures = [("value", gamma)]
    if reference is not None:
        if str(reference) not in drugs:
            raise ValidationError(f"reference: expected one of the drugs {drugs}, got {reference!r}")
        measures.append(("benefit", gamma - gamma[:, [drugs.index(str(reference))]]))
    if harm_gamma is not None:
        harm_gamma = np.asarray(harm_gamma, dtype=float)
        if harm_gamma.shape != (n, k) or not np.isfinite(harm_gamma).all():
            raise ValidationError(f"harm_gamma: expected finite scores of shape ({n}, {k}), got {harm_gamma.shape}")
        measures.append(("harm", harm_gamma))
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (n, k):
            raise ValidationError(f"mask: expected a bool array of shape ({n}, {k}), got {mask.shape}")
    if truth is not None:
        truth = np.asarray(truth, dtype=float)
        if truth.shape != (n, k):
            raise ValidationError(f"truth: expected shape ({n}, {k}), got {truth.shape}")
    tables = []
    for measure, scores in measures:
        per_patient = np.column_stack([(dists[p] * scores).sum(axis=1) for p in names])
        true = None
        if truth is not None and measure in ("value", "benefit"):
            shift = truth[:, [drugs.index(str(reference))]] if measure == "benefit" else 0.0
            true = np.column_stack([(dists[p] * (truth - shift)).sum(axis=1) for p in names])
        table = group_effects(per_patient, frame, drugs=names, alpha=alpha, n_bootstrap=n_bootstrap, truth=true,
                              random_state=random_state)  # fmt: skip
        table = table.rename(columns={"drug": "policy", "gate": "estimate", "true_gate": "true_value"}).assign(measure=measure)
        if true is not None and measure == "value":
            allowed = np.ones((n, k), bool) if mask is None else mask
            oracle = np.where(allowed, truth, -np.inf).max(axis=1)
            best = {(g, s): float(oracle[(frame[g] == s).to_numpy()].mean()) for g in frame.columns for s in frame[g].unique()}
            table["true_regret"] = [best[(g, s)] - v for g, s, v in zip(table["grouping"], table["subgroup"], table["true_value"])]
        tables.append(table)
    values = pd.concat(tables, ignore_index=True)
    values = values[["measure", "grouping", "subgroup", "policy"] + [c for c in values.columns if c not in ("measure", "grouping", "subgroup", "policy")]]

    z = stats.norm.ppf(1 - alpha / 2)
    gaps = []
    for (measure, grouping, policy), part in values.groupby(["measure", "grouping", "policy"], sort=False):
        part = part[part["se"] > 0]
        if len(part) < 2:
            continue
        hi, lo = part.loc[part["estimate"].idxmax()], part.loc[part["estimate"].idxmin()]
        gap, _, lower, upper = difference(hi["estimate"], hi["se"], lo["estimate"], lo["se"], z)
        q = heterogeneity_test(part.rename(columns={"estimate": "gate", "policy": "drug"})).iloc[0]
        gaps.append({"measure": measure, "grouping": grouping, "policy": policy, "highest": hi["subgroup"], "lowest": lo["subgroup"],
                     "gap": gap, "lower": lower, "upper": upper, "q_p_value": q["p_value"]})  # fmt: skip
    # the largest gap is chosen from the data, so its pointwise interval is optimistic; the Q test is not
    disparities = pd.DataFrame(gaps)

    rows = []
    for grouping in frame.columns:
        for level in sorted(frame[grouping].unique()):
            member = (frame[grouping] == level).to_numpy()
            base = {"grouping": grouping, "subgroup": level, "patients": int(member.sum())}
            if mask is not None:
                base["share_drugs_masked"] = float((~mask[member]).mean())
            for p in names:
                rows.append({**base, "policy": p, **{d: float(dists[p][member, j].mean()) for j, d in enumerate(drugs)}})
    return FairnessReport(values=values, disparities=disparities, allocation=pd.DataFrame(rows))


def recommendation_fairness(recommendations, gamma, groups, patient_ids, *, drugs, mask=None, harm_gamma=None, reference=None,
                            truth=None, alpha: float = 0.05, n_bootstrap: int = 2000, random_state=None) -> FairnessReport:  # fmt: skip
    """Fairness of :func:`causalrx.recommend.recommend`'s tiers: who gets recommended what, and how well following them serves each subgroup.

    Following the recommendations is a policy, the recommended drug of every patient, so its
    value, benefit over the reference arm, harm and true regret per subgroup come from
    :func:`subgroup_fairness` under the name ``"recommendations"``. ``tiers`` adds, per
    subgroup and drug, the share of patients for whom the drug is recommended, an
    alternative or contraindicated, with 95% Wilson intervals (pointwise).

    ``gamma`` (n, k), ``groups`` (n rows), ``mask`` and ``truth`` are in the order of
    ``patient_ids``, with the k drugs in the order of ``drugs``; every patient must have
    exactly one recommended drug among ``drugs`` in ``recommendations.table``.

    The DR values are honest only if the recommendations were *not* learned from the
    patients ``gamma`` scores (held-out patients, or out-of-fold recommendations). Tiers
    learned from the same patients' outcomes make the estimates optimistic, with intervals
    that miss the truth (seen on the default ``causalrx run`` cohort).
    """
    from causalrx.recommend import TIERS

    table = recommendations.table if hasattr(recommendations, "table") else recommendations
    ids = pd.Index(np.asarray(patient_ids))
    drugs = [str(d) for d in drugs]
    if ids.has_duplicates:
        raise ValidationError("patient_ids: expected unique patient ids")
    unknown = sorted(set(table["drug"].astype(str)) - set(drugs))
    if unknown:
        raise ValidationError(f"recommendations: drugs {unknown} are not among drugs {drugs}")
    chosen = table[table["tier"] == "recommended"]
    counts = chosen["patient_id"].value_counts().reindex(ids, fill_value=0)
    if (counts != 1).any():
        bad = counts[counts != 1]
        raise ValidationError(f"recommendations: {len(bad)} of {len(ids)} patients do not have exactly one recommended drug "
                              f"(e.g. {bad.index[0]!r} has {int(bad.iloc[0])})")  # fmt: skip
    best = chosen.set_index("patient_id")["drug"].astype(str).reindex(ids).map({d: j for j, d in enumerate(drugs)}).to_numpy()
    policy = np.eye(len(drugs))[best]
    report = subgroup_fairness(gamma, {"recommendations": policy}, groups, drugs=drugs, mask=mask, harm_gamma=harm_gamma,
                               reference=reference, truth=truth, alpha=alpha, n_bootstrap=n_bootstrap, random_state=random_state)  # fmt: skip
    frame = _groupings(groups, len(ids))
    tier = table.assign(drug=table["drug"].astype(str)).pivot(index="patient_id", columns="drug", values="tier").reindex(index=ids, columns=drugs)
    if tier.isna().any().any():
        raise ValidationError(f"recommendations: {int(tier.isna().any(axis=1).sum())} patients lack a tier for some drug")
    z = stats.norm.ppf(1 - alpha / 2)
    rows = []
    for grouping in frame.columns:
        for level in sorted(frame[grouping].unique()):
            member = (frame[grouping] == level).to_numpy()
            m = int(member.sum())
            for drug in drugs:
                for name in TIERS:
                    hits = int((tier[drug].to_numpy()[member] == name).sum())
                    lower, upper = _wilson(hits, m, z)
                    rows.append({"grouping": grouping, "subgroup": level, "patients": m, "drug": drug, "tier": name,
                                 "share": hits / m, "lower": lower, "upper": upper})  # fmt: skip
    report.tiers = pd.DataFrame(rows)
    return report


def _wilson(hits: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval of a proportion."""
    p = hits / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    lower = 0.0 if hits == 0 else max(0.0, centre - half)  # exact ends: no rounding past the observed share
    upper = 1.0 if hits == n else min(1.0, centre + half)
    return float(lower), float(upper)
