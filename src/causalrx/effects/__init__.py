"""Treatment effects of k drugs versus the reference arm: one interface over EconML, CausalML
and DoubleML, plus cross-fitted nuisance models shared with the later stages.

``Estimator(...).fit(X, action, y) -> self`` and ``.effect(X) -> EffectEstimate``.
"""

from causalrx.effects.ate import AIPW, DML, IPW
from causalrx.effects.crossfit import cross_fit_predict, make_folds
from causalrx.effects.estimate import EffectEstimate, EffectEstimator, check_effect_inputs, cohort_inputs, net_benefit
from causalrx.effects.learners import CausalForest, DRLearner, MetaLearner, RLearner
from causalrx.effects.neural import NeuralCATE
from causalrx.effects.outcome import (
    ARDGaussianProcess, AsinhSmearingRegressor, CrossValidatedRegressor, ProbabilityRegressor, cross_fit_outcomes, default_outcome_model, default_probability_model,
)  # fmt: skip
from causalrx.effects.overlap import OverlapReport, TrimResult, overlap_report, standardized_mean_differences, trim_overlap
from causalrx.effects.propensity import PropensityModel, cross_validated_classifier
from causalrx.effects.refute import refute
from causalrx.effects.select import CateSelector, default_candidates
from causalrx.effects.subgroups import best_linear_predictor, group_effects, heterogeneity_test, sorted_groups

__all__ = [
    "AIPW", "ARDGaussianProcess", "AsinhSmearingRegressor", "CateSelector", "CausalForest", "CrossValidatedRegressor", "DML", "DRLearner", "EffectEstimate", "EffectEstimator", "IPW", "MetaLearner", "NeuralCATE", "OverlapReport", "ProbabilityRegressor", "PropensityModel",
    "RLearner", "TrimResult", "best_linear_predictor", "check_effect_inputs", "cohort_inputs", "cross_fit_outcomes", "cross_validated_classifier", "cross_fit_predict", "default_candidates", "default_outcome_model", "group_effects", "heterogeneity_test", "make_folds", "net_benefit",
    "overlap_report", "refute", "sorted_groups", "standardized_mean_differences", "trim_overlap",
]  # fmt: skip
