"""Subgroup effects with valid inference: group average treatment effects (GATEs) with
simultaneous intervals, tests of heterogeneity, and the best linear predictor, sorted groups
and classification analysis (BLP / GATES / CLAN) of a CATE proxy.

Everything here works on cross-fitted doubly robust scores ``psi`` (n, k): one column per
drug versus the reference arm, whose mean over any set of patients estimates that set's
average effect (``AIPW().pseudo_outcomes(...)`` gives them, reference column first). The
scores are computed once, on every patient; subgroups are then averages of them, so any
number of groupings costs nothing more and the GATEs of one grouping add up to the ATE.

Multiplicity: many subgroups times many drugs is many intervals. Each table carries the
pointwise 95% interval *and* a simultaneous one (``joint_lower``/``joint_upper``): all of the
table's intervals cover their effects together with probability 95%, by the Gaussian
multiplier bootstrap of the largest studentised deviation (max-t). Read a subgroup
difference from the simultaneous interval, or from the heterogeneity test.

References
----------
Chernozhukov V, Chetverikov D, Kato K. Gaussian approximations and multiplier bootstrap for
maxima of sums of high-dimensional random vectors. Ann Stat 2013;41(6):2786-2819.
Chernozhukov V, Demirer M, Duflo E, Fernández-Val I. Generic machine learning inference on
heterogeneous treatment effects in randomized experiments. NBER w24678, 2018 (rev. 2023).
Semenova V, Chernozhukov V. Debiased machine learning of conditional average treatment
effects and other causal functions. Econometrics J 2021;24(2):264-289.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from causalrx.exceptions import ValidationError

MISSING = "(missing)"


def _scores(psi, drugs) -> tuple[np.ndarray, list[str]]:
    psi = np.asarray(psi, dtype=float)
    if psi.ndim == 1:
        psi = psi[:, None]
    if psi.ndim != 2 or len(psi) < 2:
        raise ValidationError(f"psi: expected doubly robust scores of shape (n, k) with n >= 2, got {psi.shape}")
    if not np.isfinite(psi).all():
        raise ValidationError("psi: scores must be finite; drop or recompute the patients with missing scores first")
    drugs = [f"drug {j}" for j in range(psi.shape[1])] if drugs is None else [str(d) for d in drugs]
    if len(drugs) != psi.shape[1]:
        raise ValidationError(f"drugs: expected {psi.shape[1]} names, one per column of psi, got {len(drugs)}")
    return psi, drugs


def difference(a: float, se_a: float, b: float, se_b: float, z: float) -> tuple[float, float, float, float]:
    """``a - b`` of two estimates from disjoint subgroups (independent): (difference, se, lower, upper) at critical value ``z``."""
    diff, se = float(a - b), float(np.hypot(se_a, se_b))
    return diff, se, diff - z * se, diff + z * se


def _groupings(groups, n: int) -> pd.DataFrame:
    """Groupings as a DataFrame of labels (one column per grouping); missing labels become a level of their own."""
    if isinstance(groups, pd.Series):
        frame = groups.to_frame(groups.name or "group")
    elif isinstance(groups, pd.DataFrame):
        frame = groups
    else:
        values = np.asarray(groups, dtype=object)
        if values.ndim != 1:
            raise ValidationError(f"groups: expected labels (n,), a Series or a DataFrame of groupings, got shape {values.shape}")
        frame = pd.DataFrame({"group": values})
    if len(frame) != n:
        raise ValidationError(f"groups: expected {n} rows, one per row of psi, got {len(frame)}")
    if frame.shape[1] == 0:
        raise ValidationError("groups: expected at least one grouping column")
    # a patient whose label is missing is kept, in a subgroup named "(missing)", so nobody drops out silently
    frame = frame.reset_index(drop=True)
    return frame.astype(object).where(frame.notna(), MISSING).astype(str)


def max_t_critical_value(influence: np.ndarray, *, alpha: float = 0.05, n_bootstrap: int = 2000, random_state=None) -> float:
    """Critical value c such that the intervals ``estimate_j +- c se_j`` cover all columns together.

    ``influence`` (n, m): the influence function of each of m estimates (mean zero per column),
    so that estimate_j - truth_j ~ mean_i influence[i, j]. The Gaussian multiplier bootstrap
    draws ``max_j |sum_i xi_i influence[i, j]| / (n se_j)`` with xi ~ N(0, 1) (Chernozhukov,
    Chetverikov and Kato 2013); c is its ``1 - alpha`` quantile. With one column it tends to the
    normal quantile (1.96 at alpha = 0.05).
    """
    if not 0 < alpha < 1:
        raise ValidationError(f"alpha: expected a level in (0, 1), got {alpha}")
    influence = np.asarray(influence, dtype=float)
    n = len(influence)
    sd = influence.std(axis=0, ddof=1)
    keep = sd > 0
    if not keep.any():
        return float(stats.norm.ppf(1 - alpha / 2))
    standardised = influence[:, keep] / sd[keep]
    rng = np.random.default_rng(random_state)
    draws = np.empty(n_bootstrap)
    for start in range(0, n_bootstrap, 250):  # blocks bound the memory to 250 x n multipliers
        xi = rng.standard_normal((min(250, n_bootstrap - start), n))
        draws[start : start + len(xi)] = np.abs(xi @ standardised).max(axis=1) / np.sqrt(n)
    return float(np.quantile(draws, 1 - alpha))


def group_effects(psi, groups, *, drugs=None, alpha: float = 0.05, n_bootstrap: int = 2000, truth=None,
                  random_state=None) -> pd.DataFrame:  # fmt: skip
    """Group average treatment effects of every drug in every subgroup, with pointwise and simultaneous intervals.

    Parameters
    ----------
    psi : array (n, k)
        Cross-fitted doubly robust scores of k drugs versus the reference arm (the reference
        column itself left out), e.g. ``AIPW().pseudo_outcomes(...)[0][:, 1:]``.
    groups : array (n,), Series or DataFrame
        Subgroup labels; a DataFrame gives several groupings (e.g. sex, age band, centre), each
        column one grouping. A missing label is a subgroup of its own, ``"(missing)"``.
    drugs : sequence of str, optional
        Names of psi's columns.
    alpha : float
        1 - the confidence level of both kinds of interval.
    n_bootstrap : int
        Multiplier-bootstrap draws for the simultaneous critical value.
    truth : array (n, k), optional
        The true per-patient effects, where known (simulation): adds ``true_gate`` and whether
        each interval covers it.

    Returns
    -------
    DataFrame, one row per (grouping, subgroup, drug): ``patients``, ``gate``, ``se``,
    ``lower``/``upper`` (pointwise), ``joint_lower``/``joint_upper`` (simultaneous over every
    row of the table; the critical value is in ``attrs["critical_value"]``).
    """
    psi, drugs = _scores(psi, drugs)
    n, k = psi.shape
    frame = _groupings(groups, n)
    if truth is not None:
        truth = np.asarray(truth, dtype=float).reshape(n, -1)
        if truth.shape != (n, k):
            raise ValidationError(f"truth: expected shape ({n}, {k}) like psi, got {truth.shape}")
    rows, influence, true = [], [], []
    for grouping in frame.columns:
        for level in sorted(frame[grouping].unique()):
            member = (frame[grouping] == level).to_numpy()
            size = int(member.sum())
            for j, drug in enumerate(drugs):
                values = psi[member, j]
                gate = float(values.mean())
                se = float(values.std(ddof=1) / np.sqrt(size)) if size > 1 else float("nan")
                rows.append({"grouping": grouping, "subgroup": level, "drug": drug, "patients": size, "gate": gate, "se": se})
                if truth is not None:
                    true.append(float(truth[member, j].mean()))
                # influence on the full sample: (psi - gate) 1{member} n / n_g, so its mean's sd is the group's se
                influence.append(np.where(member, psi[:, j] - gate, 0.0) * n / max(size, 1))
    table = pd.DataFrame(rows)
    z = stats.norm.ppf(1 - alpha / 2)
    crit = max_t_critical_value(np.column_stack(influence), alpha=alpha, n_bootstrap=n_bootstrap, random_state=random_state)
    table["lower"], table["upper"] = table["gate"] - z * table["se"], table["gate"] + z * table["se"]
    table["joint_lower"], table["joint_upper"] = table["gate"] - crit * table["se"], table["gate"] + crit * table["se"]
    if truth is not None:
        table["true_gate"] = true
        table["covered"] = (table["lower"] <= table["true_gate"]) & (table["true_gate"] <= table["upper"])
        table["joint_covered"] = (table["joint_lower"] <= table["true_gate"]) & (table["true_gate"] <= table["joint_upper"])
    table.attrs.update(critical_value=crit, alpha=alpha, n_bootstrap=n_bootstrap)
    return table


def heterogeneity_test(gates: pd.DataFrame) -> pd.DataFrame:
    """Do a drug's GATEs differ between the subgroups of a grouping? Cochran's Q per (grouping, drug).

    ``Q = sum_g (gate_g - pooled)^2 / se_g^2`` with the inverse-variance pooled effect; under
    equal effects Q ~ chi^2 with G - 1 degrees of freedom (the subgroups of one grouping are
    disjoint, so their estimates are independent). Takes the output of :func:`group_effects`.
    """
    rows = []
    for (grouping, drug), part in gates.groupby(["grouping", "drug"], sort=False):
        part = part[part["se"] > 0]
        if len(part) < 2:
            rows.append({"grouping": grouping, "drug": drug, "subgroups": len(part), "q": np.nan, "df": 0, "p_value": np.nan})
            continue
        w = 1 / part["se"].to_numpy() ** 2
        pooled = float(np.sum(w * part["gate"]) / w.sum())
        q = float(np.sum(w * (part["gate"].to_numpy() - pooled) ** 2))
        df = len(part) - 1
        gap = part["gate"].max() - part["gate"].min()
        rows.append({"grouping": grouping, "drug": drug, "subgroups": len(part), "largest_gap": gap, "q": q, "df": df,
                     "p_value": float(stats.chi2.sf(q, df))})  # fmt: skip
    return pd.DataFrame(rows)


def best_linear_predictor(psi, proxy, *, drugs=None, alpha: float = 0.05) -> pd.DataFrame:
    """Best linear predictor of the CATE by a proxy: regress each drug's DR score on ``[1, S - mean(S)]``.

    ``beta1`` estimates the ATE and ``beta2`` how much of the proxy's variation is real
    heterogeneity: 1 when the proxy is the true CATE, 0 when it carries none. ``p_value`` tests
    ``beta2 = 0`` against ``beta2 > 0`` (heteroscedasticity-robust HC1 standard errors).
    **The proxy must be cross-fitted** (predicted for each patient by a model that did not see
    that patient's outcome); a proxy fitted on the same outcomes overstates beta2.

    Parameters
    ----------
    psi : array (n, k)
        Doubly robust scores, as for :func:`group_effects`.
    proxy : array (n, k)
        Out-of-fold CATE predictions of the same drugs.
    """
    psi, drugs = _scores(psi, drugs)
    proxy = np.asarray(proxy, dtype=float).reshape(len(psi), -1)
    if proxy.shape != psi.shape or not np.isfinite(proxy).all():
        raise ValidationError(f"proxy: expected finite out-of-fold CATE predictions of shape {psi.shape}, got {proxy.shape}")
    z = stats.norm.ppf(1 - alpha / 2)
    rows = []
    for j, drug in enumerate(drugs):
        centred = proxy[:, j] - proxy[:, j].mean()
        design = np.column_stack([np.ones(len(psi)), centred])
        if centred.var() <= 1e-12:
            raise ValidationError(f"proxy: drug {drug!r} has a constant proxy; beta2 is not identified")
        coef, se = _ols_hc1(design, psi[:, j])
        for name, b, s in (("beta1 (ATE)", coef[0], se[0]), ("beta2 (heterogeneity)", coef[1], se[1])):
            rows.append({"drug": drug, "term": name, "estimate": b, "se": s, "lower": b - z * s, "upper": b + z * s,
                         "p_value": float(stats.norm.sf(b / s)) if name.startswith("beta2") else float(2 * stats.norm.sf(abs(b / s)))})  # fmt: skip
    return pd.DataFrame(rows)


def _ols_hc1(design: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, p = design.shape
    bread = np.linalg.inv(design.T @ design)
    coef = bread @ design.T @ y
    resid = y - design @ coef
    meat = (design * resid[:, None] ** 2).T @ design
    cov = bread @ meat @ bread * n / (n - p)
    return coef, np.sqrt(np.diag(cov))


def sorted_groups(psi, proxy, *, drugs=None, n_groups: int = 5, covariates: pd.DataFrame | None = None, alpha: float = 0.05,
                  n_bootstrap: int = 2000, truth=None, random_state=None) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """GATES and CLAN: patients sorted into ``n_groups`` groups by a cross-fitted CATE proxy.

    Returns
    -------
    gates : DataFrame
        :func:`group_effects` by proxy group (1 = the smallest predicted effect), with
        simultaneous intervals over the groups of each drug, plus a row per drug for the
        difference most - least (``subgroup == "top - bottom"``) and its pointwise interval.
    clan : DataFrame
        Mean of each covariate in the most and least affected groups of each drug, their
        difference and its interval (Welch standard error); empty without ``covariates``.
    """
    psi, drugs = _scores(psi, drugs)
    proxy = np.asarray(proxy, dtype=float).reshape(len(psi), -1)
    if proxy.shape != psi.shape or not np.isfinite(proxy).all():
        raise ValidationError(f"proxy: expected finite out-of-fold CATE predictions of shape {psi.shape}, got {proxy.shape}")
    if not 2 <= n_groups <= len(psi) // 2:
        raise ValidationError(f"n_groups: expected between 2 and {len(psi) // 2}, got {n_groups}")
    z = stats.norm.ppf(1 - alpha / 2)
    tables, clan = [], []
    for j, drug in enumerate(drugs):
        rank = pd.Series(proxy[:, j]).rank(method="first").to_numpy()
        label = np.minimum((rank - 1) * n_groups // len(psi), n_groups - 1).astype(int) + 1
        part = group_effects(psi[:, [j]], pd.Series(label, name="proxy group"), drugs=[drug], alpha=alpha, n_bootstrap=n_bootstrap,
                             truth=None if truth is None else np.asarray(truth, dtype=float).reshape(len(psi), -1)[:, [j]],
                             random_state=random_state)  # fmt: skip
        part["subgroup"] = part["subgroup"].astype(int)
        part = part.sort_values("subgroup")
        top, bottom = part.iloc[-1], part.iloc[0]
        diff, se, lower, upper = difference(top["gate"], top["se"], bottom["gate"], bottom["se"], z)
        extra = {"grouping": "proxy group", "subgroup": "top - bottom", "drug": drug, "patients": int(top["patients"] + bottom["patients"]),
                 "gate": diff, "se": se, "lower": lower, "upper": upper}  # fmt: skip
        if truth is not None:
            extra["true_gate"] = top["true_gate"] - bottom["true_gate"]
        part["subgroup"] = part["subgroup"].astype(str)
        tables.append(pd.concat([part, pd.DataFrame([extra])], ignore_index=True))
        if covariates is not None:
            if len(covariates) != len(psi):
                raise ValidationError(f"covariates: expected {len(psi)} rows, got {len(covariates)}")
            numeric = covariates.select_dtypes("number")
            hi, lo = numeric[label == n_groups], numeric[label == 1]
            for col in numeric.columns:
                a, b = hi[col].dropna(), lo[col].dropna()
                d = a.mean() - b.mean()
                s = float(np.sqrt(a.var(ddof=1) / max(len(a), 1) + b.var(ddof=1) / max(len(b), 1)))
                clan.append({"drug": drug, "covariate": col, "most_affected": a.mean(), "least_affected": b.mean(), "difference": d,
                             "lower": d - z * s, "upper": d + z * s, "p_value": float(2 * stats.norm.sf(abs(d / s))) if s > 0 else np.nan})  # fmt: skip
    gates = pd.concat(tables, ignore_index=True)
    return gates, pd.DataFrame(clan)
