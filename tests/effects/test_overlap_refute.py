"""Overlap diagnostics, Crump trimming and DoWhy refutation on data with known structure."""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from causalrx.effects import AIPW
from causalrx.effects.overlap import overlap_report, standardized_mean_differences, trim_overlap
from causalrx.effects.refute import refute
from causalrx.exceptions import ValidationError


def _binary(n=20000, scale=1.5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n) * scale
    e1 = 1 / (1 + np.exp(-x))
    return x, np.column_stack([1 - e1, e1]), (rng.random(n) < e1).astype(int)


def test_crump_rule_solves_its_fixed_point_and_reports_drops():
    x, e, a = _binary()
    t = trim_overlap(e, a)
    h = 1 / (e[:, 0] * e[:, 1])
    # gamma = 2 E[h | h <= gamma] (Crump et al. 2009, Theorem 1), up to the empirical step
    assert t.threshold == pytest.approx(2 * h[h <= t.threshold].mean(), rel=2e-3)
    alpha = (1 - np.sqrt(1 - 4 / t.threshold)) / 2
    np.testing.assert_array_equal(t.keep, (e[:, 1] >= alpha - 1e-12) & (e[:, 1] <= 1 - alpha + 1e-12))
    assert t.n_dropped == int((~t.keep).sum()) > 0
    assert t.summary.dropped.sum() == t.n_dropped and len(t.dropped) == t.n_dropped
    assert f"dropped {t.n_dropped} of 20000 patients" in t.message()
    assert (t.dropped.lowest_propensity < alpha + 1e-12).all()


def test_no_trimming_when_overlap_is_good_and_min_rule_for_many_drugs():
    rng = np.random.default_rng(1)
    e = rng.dirichlet([20, 20, 20], size=5000)  # every propensity near 1/3
    assert trim_overlap(e).n_dropped == 0
    e[:7, 2] = 0.01
    e[:7] /= e[:7].sum(axis=1, keepdims=True)
    t = trim_overlap(e, rule="min", threshold=0.05, names=["ref", "a", "b"])
    assert t.n_dropped == 7 and set(t.dropped.lowest_drug) == {"b"}
    with pytest.raises(ValidationError, match=r"threshold: expected a value in \(0, 1/k"):
        trim_overlap(e, rule="min", threshold=0.5)
    with pytest.raises(ValidationError, match=r"propensity: 5000 row\(s\) do not sum to 1"):
        trim_overlap(e * 2)


def test_overlap_report_shares_and_balance(tmp_path):
    x, e, a = _binary(scale=1.5)
    X = np.column_stack([x, np.random.default_rng(2).normal(size=len(x))])
    report = overlap_report(e, a, X, names=["ref", "drug"], threshold=0.05)
    np.testing.assert_allclose(report.table.share_below, [(e[:, 0] < 0.05).mean(), (e[:, 1] < 0.05).mean()])
    # x drives treatment: imbalanced before weighting, balanced after with the true propensity
    bal = report.balance.set_index(["drug", "covariate"])
    assert abs(bal.loc[("drug", "x0"), "smd_before"]) > 0.4
    assert abs(bal.loc[("drug", "x0"), "smd_after"]) < 0.05
    assert abs(bal.loc[("drug", "x1"), "smd_before"]) < 0.05
    png = report.plot(tmp_path / "overlap.png")
    assert png.stat().st_size > 10_000
    # hand check of one SMD
    on = a == 1
    expected = (x[on].mean() - x.mean()) / x.std(ddof=1)
    smd = standardized_mean_differences(X, a, e)
    assert smd.query("drug == 'drug_1' and covariate == 'x0'").smd_before.item() == pytest.approx(expected)


def _confounded(effect, n=1000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    a = (rng.random(n) < 1 / (1 + np.exp(-X[:, 0]))).astype(int)
    return X, a, X[:, 0] + effect * a + rng.normal(size=n)


def test_refuter_table_passes_a_real_effect_and_flags_a_placebo():
    make = lambda: AIPW(model_regression=LinearRegression(), n_folds=2, random_state=0)  # noqa: E731
    real = refute(make(), *_confounded(1.0), n_simulations=15, random_state=0)
    assert list(real.check) == ["placebo_treatment", "random_common_cause", "data_subset", "unobserved_confounder"]
    assert real.passed.all(), real
    assert abs(real.set_index("check").refuted_estimate["placebo_treatment"]) < 0.15  # placebo estimates centre on 0
    placebo = refute(make(), *_confounded(0.0, seed=3), checks=("placebo_treatment",), n_simulations=15, random_state=0)
    assert not placebo.passed.item()
    assert "indistinguishable from a placebo" in placebo.interpretation.item()


def test_refute_needs_data_and_known_checks():
    est = AIPW(model_regression=LinearRegression(), n_folds=2)
    with pytest.raises(ValidationError, match="unknown check"):
        refute(est, *_confounded(1.0, n=300), checks=("bootstrap_magic",))
    with pytest.raises(ValidationError, match="is the reference arm"):
        refute(est, *_confounded(1.0, n=300), drugs=["drug_0"])
