"""Cross-fitted outcome model q(x, a) = E[y | x, a], predicted out of fold for every drug.

Shared by AIPW here and by the reward models of :mod:`causalrx.ope`.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold
from sklearn.preprocessing import StandardScaler
from sklearn.utils.metaestimators import available_if

from causalrx.effects.crossfit import cross_fit_predict
from causalrx.exceptions import ValidationError, check_number


def default_regressor(random_state=None):
    return HistGradientBoostingRegressor(max_iter=150, random_state=random_state)


def default_outcome_model(random_state=None, n_folds: int = 3):
    """The effect learners' default outcome model: per fit, the best of three families by
    cross-validated squared error (:class:`CrossValidatedRegressor`).

    - ``boosting``: gradient-boosted trees (interactions and thresholds; flat beyond the data);
    - ``linear``: ridge regression on standardised covariates (extrapolates a trend);
    - ``linear (asinh)``: the same on ``asinh(y / scale)`` with smearing
      (:class:`AsinhSmearingRegressor`, ``scale="auto"``): skewed outcomes and surfaces that
      grow multiplicatively (exponentially) with the covariates.

    Each arm of a T-learner, and each cross-fitting fold of a DR-learner's outcome model,
    chooses for itself. The choice uses only the training outcomes, never effects.
    """
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline

    def ridge():
        return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))

    boosting = HistGradientBoostingRegressor(max_iter=150, learning_rate=0.05, min_samples_leaf=20, random_state=random_state)
    return CrossValidatedRegressor({"boosting": boosting, "linear": ridge(), "linear (asinh)": AsinhSmearingRegressor(ridge(), scale="auto")},
                                   n_folds=n_folds, random_state=random_state)  # fmt: skip


def default_probability_model(random_state=None, n_folds: int = 3):
    """The effect learners' default model of a 0/1 outcome: per fit, boosted trees or
    logistic regression (standardised, L2), whichever has the smaller cross-validated Brier
    score (squared error of the probabilities, a proper scoring rule). Predictions are
    probabilities, so differences of two are risk differences in [-1, 1].

    Boosting alone overfits each arm of a T-learner on a few thousand patients, and the
    difference of two overfitted risk surfaces is spread far wider than the true risk
    differences (badly calibrated); a smooth logistic fit is chosen where it predicts better.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return CrossValidatedRegressor({"boosting": ProbabilityRegressor(random_state=random_state),
                                    "logistic": ProbabilityRegressor(logistic, random_state=random_state)},
                                   n_folds=n_folds, random_state=random_state)  # fmt: skip


class ProbabilityRegressor(RegressorMixin, BaseEstimator):
    """A classifier used as a regressor of a 0/1 outcome: ``predict`` is ``P(y = 1 | x)``.

    Where an estimator needs ``E[y | x]`` of a binary outcome (a T-learner's arms, a
    DR-learner's outcome model), this keeps every prediction a probability in [0, 1], so
    their differences are risk differences in [-1, 1].
    """

    def __init__(self, classifier=None, random_state=None):
        self.classifier = classifier
        self.random_state = random_state

    def fit(self, X, y):
        from sklearn.ensemble import HistGradientBoostingClassifier

        y = np.asarray(y, dtype=float)
        if not np.isin(y, (0.0, 1.0)).all():
            raise ValidationError("y: ProbabilityRegressor models a 0/1 outcome; got other values")
        base = self.classifier if self.classifier is not None else HistGradientBoostingClassifier(
            max_iter=150, learning_rate=0.05, min_samples_leaf=20, random_state=self.random_state)  # fmt: skip
        if len(np.unique(y)) < 2:  # one class in this fold: predict it
            self.constant_ = float(y[0]) if len(y) else 0.5
            return self
        self.constant_ = None
        self.classifier_ = clone(base).fit(X, y.astype(int))
        return self

    def predict(self, X):
        if self.constant_ is not None:
            return np.full(len(X), self.constant_)
        proba = self.classifier_.predict_proba(X)
        return proba[:, list(self.classifier_.classes_).index(1)]


def cross_fit_outcomes(X, action, y, n_actions, regressor=None, *, per_action=False, n_folds=5, random_state=None) -> np.ndarray:
    """Out-of-fold predictions of the outcome under every drug, array (n, n_actions).

    ``per_action=False`` fits one regressor on ``[x, one-hot(a)]``; ``True`` fits one per
    drug on the patients who received it (a T-learner), predicting the others out of sample.
    """
    regressor = regressor or default_regressor(random_state)
    k = n_actions
    if per_action:
        out = np.empty((len(y), k))
        for a in range(k):
            rows = np.flatnonzero(action == a)
            Xa = X[rows]
            out[rows, a] = cross_fit_predict(regressor, Xa, y[rows], lambda m, t: m.predict(Xa[t]), n_folds=n_folds, random_state=random_state)
            others = np.flatnonzero(action != a)
            out[others, a] = clone(regressor).fit(Xa, y[rows]).predict(X[others])
        return out
    design = np.hstack([X, np.eye(k)[action]])

    def predict(model, test):
        rows = X[test]
        return np.column_stack([model.predict(np.hstack([rows, np.tile(np.eye(k)[j], (len(rows), 1))])) for j in range(k)])

    return cross_fit_predict(regressor, design, y, predict, n_folds=n_folds, random_state=random_state, stratify=action)


def fit_weighted(model, X, y, sample_weight=None):
    """``model.fit(X, y)`` with ``sample_weight`` routed to it (to a pipeline's last step)."""
    if sample_weight is None:
        return model.fit(X, y)
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline):
        return model.fit(X, y, **{f"{model.steps[-1][0]}__sample_weight": sample_weight})
    return model.fit(X, y, sample_weight=sample_weight)


class ARDGaussianProcess(RegressorMixin, BaseEstimator):
    """Gaussian-process regression with one RBF length scale per (standardised) covariate.

    Kernel ``c * RBF(l_1..l_d) + white noise`` (plus ``c' * (x . x' + s^2)`` with
    ``linear=True``, so that predictions extrapolate linearly beyond the training range
    instead of returning to the mean), hyperparameters by maximum marginal likelihood.
    A strong outcome model for small cohorts (hundreds to a few thousand patients; cost
    grows as n^3), e.g. inside a T-learner. Use it where boosting needs more data than
    there is.
    """

    def __init__(self, length_scale: float = 3.0, linear: bool = False, random_state=None):
        self.length_scale = length_scale
        self.linear = linear
        self.random_state = random_state

    def fit(self, X, y):
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, DotProduct, WhiteKernel
        from sklearn.gaussian_process.kernels import ConstantKernel as C

        X = np.asarray(X, dtype=float)
        self.scaler_ = StandardScaler().fit(X)
        kernel = C(1.0) * RBF(np.full(X.shape[1], self.length_scale), length_scale_bounds=(1e-1, 1e3)) + WhiteKernel(0.1)
        if self.linear:
            kernel = kernel + C(0.1) * DotProduct(1.0)
        # the outcome is standardised here rather than by normalize_y, so that loo_predict can
        # map back to outcome units without the fitted GP's private attributes
        y = np.asarray(y, dtype=float)
        self.y_mean_ = float(y.mean())
        spread = float(y.std())
        self.y_scale_ = spread if spread > 0 else 1.0
        self.gp_ = GaussianProcessRegressor(kernel, normalize_y=False, random_state=self.random_state)
        with warnings.catch_warnings():
            # irrelevant covariates reach the length-scale bound: that is ARD pruning them, not a failure
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.gp_.fit(self.scaler_.transform(X), (y - self.y_mean_) / self.y_scale_)
        return self

    def predict(self, X):
        return self.y_mean_ + self.y_scale_ * self.gp_.predict(self.scaler_.transform(np.asarray(X, dtype=float)))

    def loo_predict(self) -> np.ndarray:
        """Leave-one-out predictions of the training outcomes, in closed form.

        ``y_i - [K^-1 y]_i / [K^-1]_ii`` (Rasmussen & Williams 2006, eq. 5.12), with the
        hyperparameters fitted on all patients: one O(n^3) solve instead of n refits.
        """
        from scipy.linalg import cho_solve

        gp = self.gp_
        inv_diag = np.diag(cho_solve((gp.L_, True), np.eye(len(gp.L_))))
        y = gp.y_train_  # standardised, as the GP saw it
        return self.y_mean_ + self.y_scale_ * (y - gp.alpha_ / inv_diag)


class AsinhSmearingRegressor(RegressorMixin, BaseEstimator):
    """Any regressor fitted on ``asinh(y / scale)``, predicting ``E[y | x]`` by Duan's smearing.

    For skewed outcomes whose mean grows multiplicatively with the covariates (costs, lab
    values, counts, exponential dose-response surfaces): ``asinh(u)`` is ``u`` near zero
    and ``log(2u)`` for large ``|u|``, so an exponential surface becomes additive and
    extrapolates as such, while zero and negative outcomes stay allowed (unlike ``log``).
    Back-transforming the predicted mean naively (``sinh(f(x))``) estimates the median,
    not the mean; the smearing estimator averages ``scale * sinh(f(x) + r_i)`` over the
    training residuals ``r_i`` on the transformed scale, which is consistent for the mean
    when the residual distribution does not depend on x. It is not when the noise is
    additive on the original scale: the transformed residuals then shrink as y grows and
    the wide ones from small outcomes inflate large predictions. Put a raw-scale model
    beside it in a :class:`CrossValidatedRegressor`, whose held-out error shows which fits.

    Parameters
    ----------
    regressor : scikit-learn regressor, optional
        Fitted on the transformed outcome (copied); default
        ``ARDGaussianProcess(linear=True)``, which extrapolates a trend on the log scale.
    scale : float or "auto"
        Outcome units per unit of the transform's linear part: outcomes much larger than
        ``scale`` are treated on the log scale. Must be positive; a natural choice is the
        measurement noise's standard deviation. ``"auto"``: a tenth of the training
        outcomes' standard deviation (``scale_`` after fitting).
    random_state : int, optional
        Passed to the default regressor.

    References
    ----------
    Duan N. Smearing estimate: a nonparametric retransformation method. J Am Stat Assoc
    1983;78(383):605-610. Bellemare MF, Wichman CJ. Elasticities and the inverse hyperbolic
    sine transformation. Oxf Bull Econ Stat 2020;82(1):50-61.

    Predictions are held within the training range of the transformed outcome widened by
    its own width on each side, so an extrapolated exponential never overflows.
    """

    def __init__(self, regressor=None, scale: float = 1.0, random_state=None):
        self.regressor = regressor
        self.scale = scale
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None):
        y = np.asarray(y, dtype=float)
        if isinstance(self.scale, str) and self.scale == "auto":
            spread = float(np.std(y))
            self.scale_ = 0.1 * spread if spread > 0 else 1.0
        else:
            check_number("scale", self.scale, hint=' (outcome units), or "auto"')
            self.scale_ = float(self.scale)
        z = np.arcsinh(y / self.scale_)
        base = self.regressor if self.regressor is not None else ARDGaussianProcess(linear=True, random_state=self.random_state)
        self.regressor_ = fit_weighted(clone(base), X, z, sample_weight)
        residuals = z - self.regressor_.predict(X)  # only their two moments are kept: no per-patient values
        self.smearing_ = (float(np.mean(np.cosh(residuals))), float(np.mean(np.sinh(residuals))))
        span = float(z.max() - z.min()) if len(z) else 0.0
        self.z_range_ = (float(z.min()) - span, float(z.max()) + span)
        return self

    def predict(self, X):
        return self._smear(self.regressor_.predict(X))

    @available_if(lambda self: hasattr(self.regressor_, "loo_predict"))
    def loo_predict(self) -> np.ndarray:
        """Leave-one-out predictions of the training outcomes on their own scale, where the
        inner regressor offers them (e.g. :class:`ARDGaussianProcess`)."""
        return self._smear(self.regressor_.loo_predict())

    def _smear(self, f):
        # beyond the training range widened by its own width (on the transformed scale) the
        # prediction is held there: sinh of an unbounded linear extrapolation overflows
        f = np.clip(f, *self.z_range_)
        # mean over residuals of sinh(f + r) = sinh(f) E[cosh r] + cosh(f) E[sinh r]: O(n), exact
        c, s = self.smearing_
        return self.scale_ * (np.sinh(f) * c + np.cosh(f) * s)


class CrossValidatedRegressor(RegressorMixin, BaseEstimator):
    """The candidate regressor with the smallest cross-validated squared error, refitted on all data.

    Each candidate is fitted on all rows; its out-of-sample error comes from its own
    closed-form leave-one-out predictions where it has them (``loo_predict``, e.g.
    :class:`ARDGaussianProcess` and :class:`AsinhSmearingRegressor` around it: no refits),
    otherwise from K-fold predictions. Inside a T-learner (one clone per drug)
    this chooses the outcome model separately for every arm, e.g. a raw and a
    log-scale Gaussian process where only some arms have a multiplicative surface.

    Parameters
    ----------
    candidates : dict of name -> scikit-learn regressor
        Copied, never modified.
    n_folds : int
        Folds for candidates without ``loo_predict`` (at least 2).
    random_state : int, optional
        Shuffles those folds.

    Attributes
    ----------
    cv_mse_ : Series
        Cross-validated mean squared error per candidate (leave-one-out error is slightly
        optimistic next to K-fold error, and hyperparameters tuned on all rows make it
        more so: compare like with like where that matters).
    selected_ : str
        Name of the chosen candidate; ``estimator_`` is it, fitted on all rows.
    """

    def __init__(self, candidates: dict, n_folds: int = 5, random_state=None):
        self.candidates = candidates
        self.n_folds = n_folds
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None):
        if not isinstance(self.candidates, dict) or not self.candidates:
            raise ValidationError(f"candidates: expected a non-empty dict of name -> regressor, got {self.candidates!r}")
        if isinstance(self.n_folds, bool) or not isinstance(self.n_folds, numbers.Integral) or self.n_folds < 2:
            raise ValidationError(f"n_folds: expected an integer of at least 2, got {self.n_folds!r}")
        X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        fitted, mse = {}, {}
        folds = list(KFold(min(self.n_folds, len(y)), shuffle=True, random_state=self.random_state).split(X))
        for name, candidate in self.candidates.items():
            fitted[name] = fit_weighted(clone(candidate), X, y, w)
            if hasattr(fitted[name], "loo_predict") and w is None:
                held_out = fitted[name].loo_predict()
            else:
                held_out = np.empty(len(y))
                for train, test in folds:
                    model = fit_weighted(clone(candidate), X[train], y[train], None if w is None else w[train])
                    held_out[test] = model.predict(X[test])
            with np.errstate(over="ignore", invalid="ignore"):
                loss = np.average((held_out - y) ** 2, weights=w)
            mse[name] = float(loss) if np.isfinite(loss) else np.inf  # a candidate that overflows is never chosen
        self.cv_mse_ = pd.Series(mse, name="cv_mse")
        if not np.isfinite(self.cv_mse_).any():
            raise ValidationError(f"candidates: every candidate's cross-validated error is infinite or NaN ({mse})")
        self.selected_ = self.cv_mse_.idxmin()
        self.estimator_ = fitted[self.selected_]
        return self

    def predict(self, X):
        return self.estimator_.predict(X)
