"""Effect estimators recover known effects; inputs are checked with clear errors."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from causalrx.data.utility import Utility
from causalrx.effects import AIPW, DML, IPW, CausalForest, DRLearner, MetaLearner, RLearner, net_benefit
from causalrx.exceptions import PositivityError, ValidationError


def _data(n=3000, seed=0, heterogeneous=True):
    """Three arms, confounded by x0 and x1; tau_1 = 1, tau_2 = 1 + x2 (or 1.5 if not heterogeneous)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    logits = np.column_stack([np.zeros(n), 0.5 * X[:, 0], -0.5 * X[:, 1]])
    e = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    a = np.minimum((e.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1), 2)
    tau = np.column_stack([np.zeros(n), np.ones(n), 1 + X[:, 2] if heterogeneous else np.full(n, 1.5)])
    y = X[:, 0] + X[:, 1] + tau[np.arange(n), a] + rng.normal(size=n)
    return X, a, y, tau, e


ATE_ESTIMATORS = [lambda: IPW(random_state=0), lambda: AIPW(random_state=0), lambda: DML(random_state=0),
                  lambda: DRLearner(final="linear", random_state=0), lambda: CausalForest(n_estimators=200, random_state=0)]  # fmt: skip


@pytest.mark.parametrize("make", ATE_ESTIMATORS)
def test_constant_effects_recovered_within_their_standard_error(make):
    X, a, y, tau, _ = _data(heterogeneous=False)
    est = make().fit(X, a, y).effect(X)
    se = (est.ate_upper - est.ate_lower) / (2 * 1.96)
    truth = tau.mean(axis=0)
    assert np.all(np.abs(est.ate[1:] - truth[1:]) < 3.5 * se[1:]), (est.method, est.ate, se)
    assert np.all(est.ate_lower[1:] < est.ate_upper[1:])
    assert est.ite.shape == (3000, 3) and np.all(est.ite[:, 0] == 0)


@pytest.mark.parametrize(
    "make, tolerance",
    [(lambda: DRLearner(final="linear", random_state=0), 0.25), (lambda: DRLearner(random_state=0), 0.4),
     (lambda: DRLearner(n_estimators=100, max_samples=0.15, random_state=0), 0.45),
     (lambda: CausalForest(n_estimators=200, random_state=0), 0.45), (lambda: MetaLearner(kind="X", random_state=0), 0.7),
     (lambda: MetaLearner(kind="S", random_state=0), 0.7), (lambda: MetaLearner(kind="T", random_state=0), 0.8),
     (lambda: RLearner(random_state=0), 1.0)],  # fmt: skip
)
def test_heterogeneous_effect_recovered(make, tolerance):
    X, a, y, tau, _ = _data(n=3000, seed=1)
    est = make().fit(X, a, y)
    result = est.effect(X)
    pehe = np.sqrt(np.mean((result.ite[:, 2] - tau[:, 2]) ** 2))
    assert pehe < tolerance, (result.method, pehe)
    # the effect follows x2: strongly correlated with the truth
    assert np.corrcoef(result.ite[:, 2], tau[:, 2])[0, 1] > 0.7
    # out-of-sample prediction works on new patients
    X_new, *_ = _data(n=200, seed=9)
    assert est.effect(X_new).ite.shape == (200, 3)


def test_forest_dr_learner_passes_its_forest_settings():
    X, a, y, *_ = _data(n=600, seed=2)
    model = DRLearner(n_estimators=24, min_samples_leaf=7, max_samples=0.2, n_jobs=1, random_state=0).fit(X, a, y).model_
    assert (model.n_estimators, model.min_samples_leaf, model.max_samples, model.n_jobs) == (24, 7, 0.2, 1)


def test_interval_coverage_of_heterogeneous_effects():
    X, a, y, tau, _ = _data(n=3000, seed=2)
    est = DRLearner(final="linear", random_state=0).fit(X, a, y).effect(X)
    covered = (est.lower[:, 1:] <= tau[:, 1:]) & (tau[:, 1:] <= est.upper[:, 1:])
    assert covered.mean() > 0.85


def test_dml_ate_coverage_over_seeds():
    """DoubleML's 95% ATE interval covers the true ATE in most of 20 repeated samples.

    Linear outcome models (correct here) keep the test fast; bench_effects.py repeats the
    check with the default boosted models over more seeds."""
    hits = []
    for seed in range(20):
        X, a, y, tau, _ = _data(n=1000, seed=100 + seed, heterogeneous=False)
        est = DML(ml_g=LinearRegression(), random_state=seed, n_folds=3).fit(X, a, y).effect(X)
        hits.append((est.ate_lower[1] <= 1.0 <= est.ate_upper[1]) and (est.ate_lower[2] <= 1.5 <= est.ate_upper[2]))
    assert np.mean(hits) >= 0.8  # 95% per arm, two arms jointly: expected about 0.9


def test_ipw_with_true_propensity_and_positivity_error():
    X, a, y, tau, e = _data(heterogeneous=False)
    est = IPW().fit(X, a, y, propensity=e).effect(X)
    assert abs(est.ate[1] - 1.0) < 3.5 * (est.ate_upper[1] - est.ate_lower[1]) / 3.92
    bad = e.copy()
    bad[0] = [1.0, 0.0, 0.0]
    with pytest.raises(PositivityError, match=r"propensity: 1 patient\(s\) have a propensity of exactly 0 or 1"):
        IPW().fit(X, a, y, propensity=bad)


def test_net_benefit_combines_outcomes():
    X, a, y, tau, _ = _data(n=1000, heterogeneous=False)
    eff = AIPW(random_state=0).fit(X, a, y).effect(X)
    adv = AIPW(random_state=0).fit(X, a, 0.1 * y).effect(X)
    net = net_benefit(eff, adv, Utility(harm_weight=2.0))
    np.testing.assert_allclose(net.ate, eff.ate - 2 * adv.ate)
    np.testing.assert_allclose(net.ate_lower, eff.ate_lower - 2 * adv.ate_upper)
    assert net.to_frame().shape[0] == 3 and net.ite.shape == (1000, 3)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"action": np.zeros(50, int)}, ValidationError, r"the treatment has one level"),
        ({"action_names": ("ref", "a", "b")}, ValidationError, r"drug\(s\) \['b'\] were never prescribed"),
        ({"X": pd.DataFrame({"age": [1.0] * 49 + [np.nan], "egfr": 1.0})}, ValidationError, r"NaN in column\(s\) \['age'\]"),
        ({"X": np.full((50, 2), np.inf)}, ValidationError, r"X: NaN or infinite values in 2 column\(s\) \(indices \[0, 1\]\)"),
        ({"y": np.r_[np.nan, np.zeros(49)]}, ValidationError, r"y: 1 outcome value\(s\) are NaN"),
        ({"action": np.zeros(49, int)}, ValidationError, r"action: expected shape \(50,\)"),
    ],
)
def test_bad_inputs(kwargs, error, message):
    args = {"X": np.zeros((50, 2)), "action": np.r_[np.zeros(25, int), np.ones(25, int)], "y": np.zeros(50), "action_names": None}
    args.update(kwargs)
    with pytest.raises(error, match=message):
        AIPW().fit(args["X"], args["action"], args["y"], action_names=args["action_names"])


def test_effect_before_fit_and_wrong_columns():
    with pytest.raises(ValidationError, match="call fit before effect"):
        DRLearner().effect(np.zeros((2, 4)))
    X, a, y, *_ = _data(n=500)
    est = MetaLearner(kind="T", random_state=0).fit(X, a, y)
    with pytest.raises(ValidationError, match="expected 4 covariate columns"):
        est.effect(np.zeros((3, 2)))


def test_fit_on_a_cohort_uses_its_drugs_and_refuses_missing_covariates():
    from causalrx.data.simulate import simulate_cohort
    from causalrx.effects.estimate import cohort_inputs

    cohort = simulate_cohort(n=400, n_drugs=3, random_state=0, ecg=False).cohort
    X, action, y, names = cohort_inputs(cohort, "efficacy")
    assert names == cohort.action_names  # the cohort's order; the reference arm is named, wherever it is
    np.testing.assert_array_equal(np.asarray(names)[action], cohort.treatments.query("visit == 0").set_index("patient_id").drug.reindex(cohort.patient_ids))
    nan_cols = X.columns[X.isna().any()].tolist()
    assert nan_cols  # the simulator leaves measurements missing
    with pytest.raises(ValidationError, match=r"X: covariates contain NaN in column\(s\) \['" + nan_cols[0]):
        AIPW().fit(cohort, y="efficacy")
    with pytest.raises(ValidationError, match="omit it when fitting on a Cohort"):
        AIPW().fit(cohort, action)


@pytest.mark.parametrize("make", [lambda: DRLearner(final="linear", random_state=0), lambda: MetaLearner(kind="T", random_state=0),
                                  lambda: RLearner(random_state=0), lambda: CausalForest(n_estimators=100, random_state=0)])  # fmt: skip
def test_point_effect_equals_the_point_estimates_of_effect(make):
    X, a, y, _, _ = _data(n=800, seed=6)
    est = make().fit(X, a, y)
    point = est.point_effect(X[:50])
    assert point.shape == (50, 3) and np.all(point[:, 0] == 0)
    np.testing.assert_allclose(point, est.effect(X[:50]).ite, rtol=1e-8, atol=1e-10)
