"""Treatment effects: nuisance models (cross-fitted propensity and outcome models) and effect estimators."""

from causalrx.effects.crossfit import cross_fit_predict, make_folds
from causalrx.effects.propensity import PropensityModel

__all__ = ["PropensityModel", "cross_fit_predict", "make_folds"]
