"""Subgroup effects: hand-computed GATEs, the max-t critical value against its closed form,
simultaneous coverage on data with known effects, Cochran's Q, BLP, GATES and CLAN."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from causalrx.effects.subgroups import best_linear_predictor, group_effects, heterogeneity_test, max_t_critical_value, sorted_groups
from causalrx.exceptions import ValidationError


def test_gates_are_group_means_of_the_scores_with_their_standard_errors():
    psi = np.array([[1.0, 0.0], [3.0, 2.0], [2.0, 4.0], [4.0, 4.0], [6.0, 7.0]])
    table = group_effects(psi, ["a", "a", "b", "b", "b"], drugs=["x", "y"], random_state=0)
    a_x = table[(table["subgroup"] == "a") & (table["drug"] == "x")].iloc[0]
    assert a_x["patients"] == 2 and a_x["gate"] == pytest.approx(2.0) and a_x["se"] == pytest.approx(np.sqrt(2) / np.sqrt(2))
    b_y = table[(table["subgroup"] == "b") & (table["drug"] == "y")].iloc[0]
    assert b_y["gate"] == pytest.approx(5.0) and b_y["se"] == pytest.approx(np.std([4, 4, 7], ddof=1) / np.sqrt(3))
    assert b_y["upper"] - b_y["gate"] == pytest.approx(stats.norm.ppf(0.975) * b_y["se"])
    assert (table["joint_upper"] - table["joint_lower"] >= table["upper"] - table["lower"]).all()


def test_missing_labels_form_their_own_subgroup_and_every_patient_is_counted():
    labels = pd.Series(["F", None, "M", "F", np.nan, "M"], name="sex")
    table = group_effects(np.arange(6.0), labels, random_state=0)
    assert dict(zip(table["subgroup"], table["patients"])) == {"(missing)": 2, "F": 2, "M": 2}
    frame = pd.DataFrame({"sex": ["F", "M"] * 3, "centre": ["c1"] * 3 + ["c2"] * 3})
    both = group_effects(np.arange(6.0), frame, random_state=0)
    assert both.groupby("grouping")["patients"].sum().to_dict() == {"centre": 6, "sex": 6}


@pytest.mark.parametrize("m, expected", [(1, stats.norm.ppf(0.975)), (10, stats.norm.ppf(1 - (1 - 0.95 ** 0.1) / 2))])
def test_max_t_critical_value_matches_the_closed_form_for_disjoint_groups(m, expected):
    """Disjoint groups give independent estimates: the simultaneous value is Sidak's (2.80 for 10)."""
    rng = np.random.default_rng(1)
    n = 4000
    group = np.arange(n) % m
    influence = np.column_stack([np.where(group == g, rng.normal(size=n), 0.0) for g in range(m)])
    assert max_t_critical_value(influence, n_bootstrap=20000, random_state=0) == pytest.approx(expected, abs=0.05)
    assert max_t_critical_value(influence, n_bootstrap=500, random_state=3) == max_t_critical_value(influence, n_bootstrap=500, random_state=3)


def test_simultaneous_intervals_cover_every_true_gate_together():
    """Scores = true effect + heavy-ish noise, 12 subgroups x 2 drugs: all 24 intervals cover in ~95% of samples."""
    rng = np.random.default_rng(0)
    n, reps, joint, every_pointwise, pointwise = 1200, 200, 0, 0, []
    for _ in range(reps):
        sex, band = rng.integers(0, 2, n), rng.integers(0, 6, n)
        tau = np.column_stack([0.5 + 0.4 * sex - 0.1 * band, 0.2 * band])
        psi = tau + rng.standard_t(df=5, size=(n, 2)) * (1 + sex)[:, None]
        table = group_effects(psi, pd.DataFrame({"sex": sex, "band": band}), truth=tau, n_bootstrap=400, random_state=1)
        joint += table["joint_covered"].all()
        every_pointwise += table["covered"].all()
        pointwise.append(table["covered"].mean())
    assert 0.9 <= joint / reps <= 0.99
    assert 0.92 <= np.mean(pointwise) <= 0.98
    assert every_pointwise / reps < 0.6  # the 24 pointwise intervals all cover far less often (0.41 here): multiplicity


def test_cochran_q_by_hand():
    gates = pd.DataFrame({"grouping": "sex", "drug": "x", "subgroup": ["F", "M"], "gate": [1.0, 0.0], "se": [0.5, 0.5]})
    row = heterogeneity_test(gates).iloc[0]
    # pooled 0.5; Q = (0.5^2 + 0.5^2) / 0.25 = 2; chi^2 with 1 df
    assert row["q"] == pytest.approx(2.0) and row["df"] == 1 and row["p_value"] == pytest.approx(stats.chi2.sf(2.0, 1))
    assert row["largest_gap"] == pytest.approx(1.0)


def test_blp_recovers_the_slope_and_sees_no_heterogeneity_in_a_noise_proxy():
    rng = np.random.default_rng(0)
    s = rng.normal(size=3000)
    exact = best_linear_predictor(1.0 + 2.0 * s, s, drugs=["x"])  # scores exactly linear in the proxy
    assert exact["estimate"].tolist() == pytest.approx([1.0 + 2.0 * s.mean(), 2.0])
    tau = 0.5 + s
    psi = tau + rng.normal(scale=2, size=len(s))
    good = best_linear_predictor(np.column_stack([psi, psi]), np.column_stack([tau, rng.normal(size=len(s))]), drugs=["true", "noise"])
    beta2 = good[good["term"].str.startswith("beta2")].set_index("drug")
    assert beta2.loc["true", "lower"] <= 1.0 <= beta2.loc["true", "upper"] and beta2.loc["true", "p_value"] < 1e-6
    assert beta2.loc["noise", "lower"] <= 0.0 <= beta2.loc["noise", "upper"]
    with pytest.raises(ValidationError, match="constant proxy"):
        best_linear_predictor(psi, np.ones_like(psi))


def test_gates_and_clan_order_the_groups_and_name_the_driver():
    rng = np.random.default_rng(2)
    n = 3000
    covariates = pd.DataFrame({"driver": rng.normal(size=n), "bystander": rng.normal(size=n)})
    tau = 1.0 + covariates["driver"].to_numpy()
    psi = tau + rng.normal(size=n)
    gates, clan = sorted_groups(psi, tau, drugs=["x"], covariates=covariates, truth=tau, random_state=0)
    groups = gates[gates["subgroup"] != "top - bottom"]
    assert groups["subgroup"].tolist() == ["1", "2", "3", "4", "5"] and (np.diff(groups["gate"]) > 0).all()
    assert groups["patients"].tolist() == [600] * 5 and groups["joint_covered"].all()
    diff = gates[gates["subgroup"] == "top - bottom"].iloc[0]
    assert diff["lower"] > 0 and diff["lower"] <= diff["true_gate"] <= diff["upper"]
    by = clan.set_index("covariate")
    assert by.loc["driver", "lower"] > 2 and by.loc["bystander", "lower"] <= 0 <= by.loc["bystander", "upper"]


def test_clear_errors():
    with pytest.raises(ValidationError, match="psi: scores must be finite"):
        group_effects([1.0, np.nan, 2.0], ["a", "a", "b"])
    with pytest.raises(ValidationError, match="groups: expected 3 rows"):
        group_effects([1.0, 2.0, 3.0], ["a", "b"])
    with pytest.raises(ValidationError, match="drugs: expected 1 names"):
        group_effects([1.0, 2.0, 3.0], ["a", "a", "b"], drugs=["x", "y"])
    with pytest.raises(ValidationError, match="alpha"):
        max_t_critical_value(np.ones((3, 1)), alpha=1.5)
    with pytest.raises(ValidationError, match="n_groups"):
        sorted_groups(np.arange(10.0), np.arange(10.0), n_groups=8)
