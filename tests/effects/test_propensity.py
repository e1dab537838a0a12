"""The propensity model's calibrations against known multinomial propensities."""

import numpy as np
import pytest
from scipy.special import softmax

from causalrx.effects import AIPW, PropensityModel, cross_validated_classifier
from causalrx.exceptions import ValidationError


def multinomial(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    beta = np.array([[0.0, 0.0, 0.0, 0.0], [1.0, -0.5, 0.0, 0.3], [-0.8, 0.6, 0.4, 0.0]])
    e = softmax(X @ beta.T, axis=1)
    action = (e.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)
    return X, action, e


def test_calibrations_against_known_propensities():
    X, action, e = multinomial()
    error = {}
    for calibration in (None, "sigmoid", "temperature"):
        est = PropensityModel(calibration=calibration, n_folds=3, random_state=0).fit_predict(X, action, 3)
        np.testing.assert_allclose(est.sum(axis=1), 1.0)
        error[calibration] = np.abs(est - e).mean()
    # a correctly specified logit: uncalibrated and temperature-scaled are close to the truth (about 0.018) ...
    assert error[None] < 0.025 and error["temperature"] < 0.025
    # ... while one-against-the-rest sigmoid calibration, renormalised, distorts them (about 0.038)
    assert error["sigmoid"] > 1.5 * error["temperature"]
    # temperature scaling keeps the multinomial structure: the log-odds between drugs stay linear in x
    est = PropensityModel(calibration="temperature", n_folds=3, random_state=0).fit_predict(X, action, 3)
    log_odds = np.log(est[:, 1] / est[:, 0])
    design = np.column_stack([np.ones(len(X)), X])
    residual = log_odds - design @ np.linalg.lstsq(design, log_odds, rcond=None)[0]
    assert 1 - residual.var() / log_odds.var() > 0.95


def test_an_unknown_calibration_is_refused_by_name():
    X, action, _ = multinomial(300)
    with pytest.raises(ValidationError, match="calibration: expected one of"):
        PropensityModel(calibration="platt").fit_predict(X, action, 3)


def noisy_multinomial(n=1000, noise=150, seed=1):
    """Three drugs whose logit depends on 4 covariates, among ``noise`` irrelevant ones."""
    X, action, e = multinomial(n, seed)
    rng = np.random.default_rng(seed + 100)
    return np.column_stack([X, rng.normal(size=(n, noise))]), action, e


def test_the_cross_validated_penalty_is_closer_to_known_propensities_than_the_default():
    X, action, e = noisy_multinomial()
    plain = PropensityModel(calibration=None, n_folds=3, random_state=0).fit_predict(X, action, 3)
    cv = PropensityModel(classifier=cross_validated_classifier(), calibration=None, n_folds=3, random_state=0).fit_predict(X, action, 3)
    np.testing.assert_allclose(cv.sum(axis=1), 1.0)
    # C = 1 on 154 covariates and 667 training rows overfits the noise; the penalty chosen by held-out
    # log loss shrinks it away (mean absolute error about 0.13 against 0.22 here)
    assert np.abs(cv - e).mean() < 0.7 * np.abs(plain - e).mean()
    rows = np.arange(len(action))
    assert -np.log(cv[rows, action]).mean() < -np.log(plain[rows, action]).mean()
    # and where the logit is right and the covariates few, it stays as close as the unpenalised fit
    # (about 0.018), where one-against-the-rest sigmoid calibration distorts (about 0.038)
    X, action, e = multinomial()
    cv = PropensityModel(classifier=cross_validated_classifier(), calibration=None, n_folds=3, random_state=0).fit_predict(X, action, 3)
    assert np.abs(cv - e).mean() < 0.025


def test_aipw_uses_the_propensity_model_it_is_given_with_its_own_seed():
    rng = np.random.default_rng(3)
    n = 1500
    X = rng.normal(size=(n, 6))
    treated = rng.random(n) < 1 / (1 + np.exp(-1.2 * X[:, 0]))
    y = X[:, 0] + 0.5 * X[:, 1] + 1.0 * treated + rng.normal(size=n)  # true ATE 1.0
    model = PropensityModel(classifier=cross_validated_classifier(), calibration=None)
    fits = [AIPW(random_state=7, propensity_model=model).fit(X, treated, y) for _ in range(2)]
    assert fits[0].ate_[1] == fits[1].ate_[1]  # unset seed: the estimator's, so the same numbers twice
    assert abs(fits[0].ate_[1] - 1.0) < 3 * fits[0].se_[1]
    assert model.random_state is None  # the given model is not modified
    # the same propensities as the model's own cross-fit with the estimator's folds and seed
    given = PropensityModel(classifier=cross_validated_classifier(), calibration=None, random_state=7).fit_predict(X, treated.astype(int), 2)
    assert AIPW(random_state=7).fit(X, treated, y, propensity=given).ate_[1] == fits[0].ate_[1]
    with pytest.raises(ValidationError, match="propensity_model: expected a PropensityModel"):
        AIPW(propensity_model=cross_validated_classifier()).fit(X, treated, y)
