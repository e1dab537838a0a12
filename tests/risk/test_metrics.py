from pathlib import Path

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from causalrx.exceptions import ValidationError
from causalrx.risk import (
    auprc,
    auroc,
    brier,
    calibration_bins,
    concordance_index,
    evaluate_risk,
    expected_calibration_error,
    plot_calibration,
    risk_strata,
    sensitivity_specificity,
)

REFERENCE = Path(__file__).parent / "data" / "lifelines_cindex.npz"


@pytest.fixture
def scored():
    rng = np.random.default_rng(3)
    p = rng.beta(2, 5, 1500)
    y = (rng.uniform(size=1500) < p).astype(int)
    return y, p


def test_binary_metrics_equal_scikit_learn(scored):
    y, p = scored
    assert auroc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert auprc(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert brier(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    bins = calibration_bins(y, p, n_bins=10)
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="uniform")
    np.testing.assert_allclose(bins["observed"], observed, atol=1e-12)
    np.testing.assert_allclose(bins["predicted"], predicted, atol=1e-12)


def test_ece_and_threshold_metrics_by_hand():
    y = np.array([1, 0, 1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.05])
    # bins of width 0.5: [0, .5) holds (.2,1) (.1,0) (.05,0): predicted .1167, observed 1/3;
    # [.5, 1] holds (.9,1) (.8,0) (.7,1): predicted .8, observed 2/3
    ece = 0.5 * abs(1 / 3 - 0.35 / 3) + 0.5 * abs(2 / 3 - 0.8)
    assert expected_calibration_error(y, p, n_bins=2) == pytest.approx(ece)
    assert sensitivity_specificity(y, p, 0.5) == pytest.approx((2 / 3, 2 / 3))
    assert list(risk_strata([0.05, 0.1, 0.15, 0.5])) == ["low", "medium", "medium", "high"]


def test_cindex_equals_lifelines_including_ties():
    ref = np.load(REFERENCE)
    for i in range(4):
        ours = concordance_index(ref[f"time_{i}"], ref[f"event_{i}"], ref[f"risk_{i}"])
        assert ours == pytest.approx(float(ref[f"cindex_{i}"]), abs=1e-12)


def test_cindex_equals_brute_force_pairs():
    rng = np.random.default_rng(0)
    time = np.round(rng.exponential(1, 120), 1)
    event = rng.integers(0, 2, 120)
    risk = np.round(rng.normal(size=120), 1)
    num = den = 0.0
    for i in range(120):
        for j in range(120):
            if event[i] and (time[i] < time[j] or (time[i] == time[j] and not event[j])):
                den += 1
                num += 1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0
    assert concordance_index(time, event, risk) == pytest.approx(num / den)


def test_report_intervals_cover_truth_and_plot_saves(scored, tmp_path):
    y, p = scored
    rng = np.random.default_rng(1)
    time = rng.exponential(1 / (0.2 + p))
    report = evaluate_risk(y, p, time=time, event=np.ones_like(y), n_bootstrap=200, random_state=0)
    frame = report.to_frame().set_index("metric")
    assert {"auroc", "auprc", "brier", "ece", "sensitivity", "specificity", "c_index"} <= set(frame.index)
    assert (frame["lower"] <= frame["estimate"]).all() and (frame["estimate"] <= frame["upper"]).all()
    # the model is the true risk, so its calibration error is small and the CI is narrow
    assert frame.loc["ece", "estimate"] < 0.05
    assert frame.loc["auroc", "upper"] - frame.loc["auroc", "lower"] < 0.08
    assert report.strata["patients"].sum() == len(y)
    again = evaluate_risk(y, p, time=time, event=np.ones_like(y), n_bootstrap=200, random_state=0)
    assert again.metrics.equals(report.metrics)
    fig = plot_calibration(report)
    fig.savefig(tmp_path / "cal.png")
    assert (tmp_path / "cal.png").stat().st_size > 1000


def test_bad_inputs_are_named():
    with pytest.raises(ValidationError, match="only class 1"):
        auroc([1, 1, 1], [0.2, 0.3, 0.4])
    with pytest.raises(ValidationError, match="p: expected probabilities"):
        brier([0, 1], [0.2, 1.4])
    with pytest.raises(ValidationError, match="binary labels"):
        auroc([0, 2], [0.2, 0.4])
    with pytest.raises(ValidationError, match="threshold"):
        evaluate_risk([0, 1] * 20, [0.3, 0.6] * 20, threshold=1.5)
