"""Risk-model metrics: discrimination, calibration, survival concordance, their uncertainty,
recalibration and conformal prediction sets."""

from causalrx.risk.calibrate import RiskCalibrator
from causalrx.risk.conformal import SplitConformalClassifier
from causalrx.risk.inference import DeLongResult, auroc_delong_interval, delong_test, stratified_bootstrap
from causalrx.risk.metrics import (
    auprc,
    auroc,
    brier,
    calibration_bins,
    concordance_index,
    expected_calibration_error,
    risk_strata,
    sensitivity_specificity,
)
from causalrx.risk.report import RiskReport, evaluate_risk, plot_calibration

__all__ = [
    "DeLongResult",
    "RiskCalibrator",
    "RiskReport",
    "SplitConformalClassifier",
    "auprc",
    "auroc",
    "auroc_delong_interval",
    "brier",
    "calibration_bins",
    "concordance_index",
    "delong_test",
    "evaluate_risk",
    "expected_calibration_error",
    "plot_calibration",
    "risk_strata",
    "sensitivity_specificity",
    "stratified_bootstrap",
]
