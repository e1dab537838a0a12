"""The propensity model's calibrations against known multinomial propensities."""

import numpy as np
import pytest
from scipy.special import softmax

from causalrx.effects import PropensityModel
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
