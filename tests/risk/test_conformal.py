import numpy as np
import pytest

from causalrx.exceptions import ValidationError
from causalrx.risk import RiskCalibrator, SplitConformalClassifier, expected_calibration_error


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.2])
@pytest.mark.parametrize("mondrian", [False, True])
def test_conformal_sets_reach_nominal_coverage_on_held_out(alpha, mondrian):
    rng = np.random.default_rng(int(alpha * 100) + mondrian)
    n = 6000
    x = rng.normal(size=n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-2 * x))).astype(int)
    p = 1 / (1 + np.exp(-1.5 * x - 0.3))  # a miscalibrated model: coverage must not rely on calibration
    conf = SplitConformalClassifier(alpha=alpha, mondrian=mondrian).fit(p[:3000], y[:3000])
    cov = conf.coverage(p[3000:], y[3000:])
    assert abs(cov["coverage"] - (1 - alpha)) <= 0.03
    assert 1.0 <= cov["mean_set_size"] <= 2.0
    if mondrian:
        sets = conf.predict_sets(p[3000:])
        for c in (0, 1):
            rows = y[3000:] == c
            assert abs(sets[rows, c].mean() - (1 - alpha)) <= 0.04


def test_conformal_multiclass_and_errors():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 4))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(4, p=row) for row in probs])
    conf = SplitConformalClassifier(alpha=0.1).fit(probs[:2000], y[:2000])
    assert abs(conf.coverage(probs[2000:], y[2000:])["coverage"] - 0.9) <= 0.03
    with pytest.raises(ValidationError, match="too few"):
        SplitConformalClassifier(alpha=0.01).fit(probs[:20], y[:20])
    with pytest.raises(ValidationError, match="expected 4 classes"):
        conf.predict_sets(probs[:, :3])


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_recalibration_on_held_out_split_reduces_ece(method):
    rng = np.random.default_rng(5)
    n = 8000
    true = 1 / (1 + np.exp(-rng.normal(-1, 1.2, n)))
    y = (rng.uniform(size=n) < true).astype(int)
    raw = 1 / (1 + np.exp(-(2.0 * np.log(true / (1 - true)) + 1.0)))  # overconfident and shifted
    cal = RiskCalibrator(method).fit(raw[:4000], y[:4000])
    before = expected_calibration_error(y[4000:], raw[4000:])
    after = expected_calibration_error(y[4000:], cal.predict(raw[4000:]))
    assert before > 0.08 and after < 0.03
    with pytest.raises(ValidationError, match="method"):
        RiskCalibrator("beta").fit(raw, y)
