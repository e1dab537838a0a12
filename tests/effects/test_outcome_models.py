"""Outcome regressors for small cohorts: the ARD Gaussian process and the asinh smearing wrapper."""

import numpy as np
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression

from causalrx.effects import ARDGaussianProcess, AsinhSmearingRegressor, MetaLearner
from causalrx.exceptions import ValidationError


def test_smearing_with_a_constant_model_returns_the_sample_mean_exactly():
    # f = mean(z), r_i = z_i - f, so mean_i scale * sinh(f + r_i) = mean_i y_i: hand-computed
    y = np.random.default_rng(0).lognormal(1.0, 1.5, size=300) - 2.0
    X = np.zeros((300, 1))
    for scale in (0.5, 1.0, 7.0):
        model = AsinhSmearingRegressor(DummyRegressor(), scale=scale).fit(X, y)
        assert model.predict(X[:3]) == pytest.approx(np.full(3, y.mean()), rel=1e-10)
        naive = scale * np.sinh(np.mean(np.arcsinh(y / scale)))
        assert abs(naive - y.mean()) > 0.5  # the naive back-transform estimates a median, not the mean


def test_smearing_matches_the_brute_force_average_over_residuals():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 2))
    y = np.exp(1 + X @ [0.8, -0.5]) + rng.normal(size=200)
    model = AsinhSmearingRegressor(LinearRegression(), scale=2.0).fit(X, y)
    f, r = model.regressor_.predict(X[:5]), model.residuals_
    brute = 2.0 * np.sinh(f[:, None] + r[None, :]).mean(axis=1)
    assert model.predict(X[:5]) == pytest.approx(brute, rel=1e-9)


def test_an_exponential_surface_is_extrapolated_on_the_log_scale():
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1.5, size=(400, 1))
    mean = lambda v: np.exp(1 + 1.2 * v[:, 0])  # noqa: E731
    y = mean(x) + rng.normal(size=400)
    beyond = np.array([[2.0], [2.5]])  # outside the training range
    smeared = AsinhSmearingRegressor(LinearRegression()).fit(x, y).predict(beyond)
    plain = LinearRegression().fit(x, y).predict(beyond)
    truth = mean(beyond)
    # a line on asinh(y) is only near-exact where mean >> noise, hence 20% rather than a tighter bound
    assert np.all(np.abs(smeared - truth) / truth < 0.20)
    assert np.all(np.abs(plain - truth) > 3 * np.abs(smeared - truth))


def test_bad_scale_is_named():
    for scale in (0.0, -1.0, np.nan, "std"):
        with pytest.raises(ValidationError, match="scale"):
            AsinhSmearingRegressor(LinearRegression(), scale=scale).fit(np.zeros((5, 1)), np.arange(5.0))


def test_gaussian_process_with_linear_kernel_extrapolates_a_trend():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, size=(80, 2))
    y = 3 * x[:, 0] + 0.05 * rng.normal(size=80)
    far = np.array([[3.0, 0.5]])
    linear = ARDGaussianProcess(linear=True, random_state=0).fit(x, y).predict(far)[0]
    rbf = ARDGaussianProcess(random_state=0).fit(x, y).predict(far)[0]
    assert linear == pytest.approx(9.0, abs=0.5)
    assert abs(rbf - 9.0) > 2.0  # an RBF kernel alone returns towards the mean away from the data


def test_t_learner_with_smeared_gp_recovers_an_exponential_control_surface():
    rng = np.random.default_rng(4)
    n = 500
    X = rng.normal(size=(n, 3))
    a = rng.binomial(1, 1 / (1 + np.exp(-0.5 * X[:, 1])))
    mu0, mu1 = np.exp(1.5 + 0.9 * X[:, 0]), 4 + X[:, 2]
    y = np.where(a == 1, mu1, mu0) + rng.normal(size=n)
    test = rng.normal(size=(300, 3))
    tau = 4 + test[:, 2] - np.exp(1.5 + 0.9 * test[:, 0])
    pehe = {}
    for name, model in {"raw": ARDGaussianProcess(random_state=0),
                        "smeared": AsinhSmearingRegressor(ARDGaussianProcess(linear=True, random_state=0))}.items():  # fmt: skip
        ite = MetaLearner(kind="T", model=model, random_state=0).fit(X, a, y).point_effect(test)[:, 1]
        pehe[name] = np.sqrt(np.mean((ite - tau) ** 2))
    assert pehe["smeared"] < 0.6
    assert pehe["smeared"] < pehe["raw"]
