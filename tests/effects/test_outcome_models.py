"""Outcome regressors for small cohorts: the ARD Gaussian process and the asinh smearing wrapper."""

import numpy as np
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression

from causalrx.effects import ARDGaussianProcess, AsinhSmearingRegressor, CrossValidatedRegressor, MetaLearner
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
    f, r = model.regressor_.predict(X[:5]), np.arcsinh(y / 2.0) - model.regressor_.predict(X)
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


def test_gaussian_process_leave_one_out_equals_refitting_without_each_patient():
    from sklearn.gaussian_process import GaussianProcessRegressor

    rng = np.random.default_rng(5)
    X = rng.normal(size=(60, 3))
    y = 5 + 2 * np.sin(X[:, 0]) + X[:, 1] + 0.3 * rng.normal(size=60)
    model = ARDGaussianProcess(linear=True, random_state=0).fit(X, y)
    Xs, mean, sd = model.scaler_.transform(X), y.mean(), y.std()
    brute = np.empty(60)
    for i in range(60):  # same kernel and prior mean, patient i left out
        keep = np.arange(60) != i
        gp = GaussianProcessRegressor(model.gp_.kernel_, optimizer=None).fit(Xs[keep], (y[keep] - mean) / sd)
        brute[i] = mean + sd * gp.predict(Xs[i : i + 1])[0]
    assert model.loo_predict() == pytest.approx(brute, abs=1e-9)
    assert np.mean((brute - y) ** 2) > np.mean((model.predict(X) - y) ** 2)  # held-out error exceeds in-sample


def test_gaussian_process_on_a_constant_outcome_predicts_the_constant():
    X = np.random.default_rng(7).normal(size=(30, 2))
    model = ARDGaussianProcess(random_state=0).fit(X, np.full(30, 4.0))
    assert model.predict(X[:5] + 1) == pytest.approx(np.full(5, 4.0))
    assert model.loo_predict() == pytest.approx(np.full(30, 4.0))


def test_smeared_leave_one_out_back_transforms_the_inner_one():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(80, 2))
    y = np.exp(1 + X[:, 0]) + rng.normal(size=80)
    smeared = AsinhSmearingRegressor(ARDGaussianProcess(linear=True, random_state=0)).fit(X, y)
    f = smeared.regressor_.loo_predict()
    r = np.arcsinh(y / smeared.scale_) - smeared.regressor_.predict(X)
    assert smeared.loo_predict() == pytest.approx(np.sinh(f[:, None] + r[None, :]).mean(axis=1), rel=1e-9)
    assert not hasattr(AsinhSmearingRegressor(LinearRegression()).fit(X, y), "loo_predict")


def test_numpy_scale_is_accepted():
    X, y = np.zeros((5, 1)), np.arange(5.0)
    for scale in (np.int64(2), np.float32(2.0)):
        assert AsinhSmearingRegressor(DummyRegressor(), scale=scale).fit(X, y).predict(X[:1]) == pytest.approx([2.0])


def test_cross_validated_regressor_scores_by_held_out_error_and_keeps_the_best():
    from sklearn.model_selection import KFold, cross_val_predict

    rng = np.random.default_rng(7)
    X = rng.normal(size=(150, 2))
    y = 1 + 2 * X[:, 0] + 0.5 * rng.normal(size=150)
    model = CrossValidatedRegressor({"mean": DummyRegressor(), "line": LinearRegression()}, n_folds=4, random_state=0).fit(X, y)
    folds = KFold(4, shuffle=True, random_state=0)
    for name, candidate in {"mean": DummyRegressor(), "line": LinearRegression()}.items():
        assert model.cv_mse_[name] == pytest.approx(np.mean((cross_val_predict(candidate, X, y, cv=folds) - y) ** 2))
    assert model.selected_ == "line"
    assert model.predict(X[:3]) == pytest.approx(LinearRegression().fit(X, y).predict(X[:3]))


def test_t_learner_chooses_the_outcome_model_per_arm():
    from sklearn.tree import DecisionTreeRegressor

    # arm 0 a line (the linear model wins), arm 1 a step (the tree wins)
    rng = np.random.default_rng(8)
    n = 600
    X = rng.normal(size=(n, 3))
    a = rng.binomial(1, 0.5, size=n)
    y = np.where(a == 1, 5.0 * (X[:, 1] > 0), 2 + 3 * X[:, 0]) + 0.5 * rng.normal(size=n)
    choice = CrossValidatedRegressor({"line": LinearRegression(), "tree": DecisionTreeRegressor(max_depth=2, random_state=0)})
    learner = MetaLearner(kind="T", model=choice, random_state=0).fit(X, a, y)
    assert [m.selected_ for m in learner.model_.models] == ["line", "tree"]
    test = rng.normal(size=(200, 3))
    tau = 5.0 * (test[:, 1] > 0) - 2 - 3 * test[:, 0]
    assert np.sqrt(np.mean((learner.point_effect(test)[:, 1] - tau) ** 2)) < 0.3


def test_cross_validated_regressor_names_bad_arguments():
    X, y = np.zeros((10, 1)), np.arange(10.0)
    for kwargs, name in (({"candidates": {}}, "candidates"), ({"candidates": [LinearRegression()]}, "candidates"),
                         ({"candidates": {"a": LinearRegression()}, "n_folds": 1}, "n_folds")):  # fmt: skip
        with pytest.raises(ValidationError, match=name):
            CrossValidatedRegressor(**kwargs).fit(X, y)


def test_default_outcome_model_chooses_the_family_that_fits():
    from causalrx.effects import default_outcome_model

    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 4))
    linear = 2.0 * X[:, 0] - X[:, 1] + rng.normal(0, 0.3, 600)
    exponential = np.exp(1.2 * X[:, 0] + 0.4 * X[:, 1]) + rng.normal(0, 0.3, 600)
    steps = np.where(X[:, 0] > 0, 3.0, 0.0) * (X[:, 1] > 0) + rng.normal(0, 0.3, 600)
    chosen = {name: default_outcome_model(random_state=0).fit(X, y).selected_
              for name, y in {"linear": linear, "exponential": exponential, "steps": steps}.items()}  # fmt: skip
    assert chosen == {"linear": "linear", "exponential": "linear (asinh)", "steps": "boosting"}
    # the exponential surface extrapolates on new, more extreme patients instead of going flat
    model = default_outcome_model(random_state=0).fit(X, exponential)
    far = np.array([[3.0, 1.0, 0.0, 0.0]])
    assert model.predict(far)[0] > 0.5 * np.exp(1.2 * 3 + 0.4)


def test_cross_validated_regressor_takes_weights_and_skips_candidates_that_overflow():
    from sklearn.linear_model import LinearRegression

    class Overflowing(LinearRegression):
        def predict(self, X):
            return np.full(len(X), np.inf)

    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 2))
    y = X[:, 0] + rng.normal(0, 0.1, 200)
    w = np.r_[np.full(100, 10.0), np.full(100, 0.1)]
    model = CrossValidatedRegressor({"bad": Overflowing(), "good": LinearRegression()}, n_folds=3).fit(X, y, sample_weight=w)
    assert model.selected_ == "good" and np.isinf(model.cv_mse_["bad"])
    with pytest.raises(ValidationError, match="every candidate's cross-validated error is infinite"):
        CrossValidatedRegressor({"bad": Overflowing()}, n_folds=3).fit(X, y)


def test_asinh_scale_auto_and_predictions_held_near_the_training_range():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 1))
    y = np.exp(2 * X[:, 0]) + rng.normal(0, 0.1, 300)
    from sklearn.linear_model import LinearRegression

    model = AsinhSmearingRegressor(LinearRegression(), scale="auto").fit(X, y)
    assert model.scale_ == pytest.approx(0.1 * y.std())
    assert np.isfinite(model.predict(np.array([[1e6]]))).all()  # held at the widened range, never inf
    with pytest.raises(ValidationError, match="scale"):
        AsinhSmearingRegressor(LinearRegression(), scale=-1.0).fit(X, y)
