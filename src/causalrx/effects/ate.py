"""Average treatment effects of k drugs vs the reference arm: IPW, AIPW and DML (DoubleML).

These estimate one effect per drug; :meth:`effect` returns it for every patient (no
heterogeneity) with a valid interval.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtri

from causalrx.effects.estimate import EffectEstimate, check_effect_inputs
from causalrx.effects.outcome import cross_fit_outcomes, default_regressor
from causalrx.effects.propensity import PropensityModel, default_classifier
from causalrx.exceptions import ValidationError


def _broadcast(n, ate, se, alpha, method, names) -> EffectEstimate:
    z = ndtri(1 - alpha / 2)
    lo, hi = ate - z * se, ate + z * se
    return EffectEstimate(
        ite=np.tile(ate, (n, 1)), lower=np.tile(lo, (n, 1)), upper=np.tile(hi, (n, 1)), ate=ate, ate_lower=lo,
        ate_upper=hi, method=method, action_names=names, alpha=alpha,
    )  # fmt: skip


@dataclass(kw_only=True)
class _ATE:
    random_state: int | None = None
    alpha: float = 0.05
    n_folds: int = 5

    def effect(self, X=None) -> EffectEstimate:
        """The ATE of every drug (with its interval), repeated for each patient of X."""
        if not hasattr(self, "ate_"):
            raise ValidationError(f"{type(self).__name__}: call fit before effect")
        n = self.n_ if X is None else len(X)
        return _broadcast(n, self.ate_, self.se_, self.alpha, self.name, self.action_names_)

    def _propensity(self, d, given):
        """The given propensities, or cross-fitted calibrated estimates."""
        if given is not None:
            return np.asarray(given, dtype=float)
        return PropensityModel(n_folds=self.n_folds, random_state=self.random_state).fit_predict(d.X, d.action, d.n_actions)


@dataclass(kw_only=True)
class IPW(_ATE):
    """Inverse probability weighting, normalised within arm (Hajek), with influence-function intervals.

    ``propensity`` (n, k) may be given; otherwise it is estimated cross-fitted and calibrated.

    References
    ----------
    Hirano K, Imbens GW, Ridder G. Efficient estimation of average treatment effects using
    the estimated propensity score. Econometrica 2003;71(4):1161-1189.
    """

    name = "IPW"

    def fit(self, X, action=None, y=None, *, action_names=None, propensity=None):
        d = check_effect_inputs(X, action, y, action_names, propensity)
        e = self._propensity(d, propensity)
        n, k = len(d.y), d.n_actions
        mu, infl = np.zeros(k), np.zeros((n, k))
        for a in range(k):
            w = (d.action == a) / e[:, a]
            mu[a] = np.sum(w * d.y) / np.sum(w)
            infl[:, a] = w * (d.y - mu[a]) / np.mean(w)
        contrast = infl - infl[:, :1]
        self.ate_, self.se_ = mu - mu[0], contrast.std(axis=0, ddof=1) / np.sqrt(n)
        self.n_, self.action_names_, self.propensity_, self.data_ = n, d.action_names, e, d
        return self


@dataclass(kw_only=True)
class AIPW(_ATE):
    """Augmented IPW (doubly robust) with cross-fitted outcome and propensity models.

    ``pseudo_outcomes_`` (n, k) are the per-patient doubly robust scores of each drug vs
    the reference arm; their mean is the ATE, and they serve to validate CATE models.

    References
    ----------
    Robins JM, Rotnitzky A, Zhao LP. JASA 1994;89:846-866. Chernozhukov V, et al. Double/
    debiased machine learning. Econometrics J 2018.
    """

    model_regression: object = None
    per_action: bool = True

    name = "AIPW"

    def fit(self, X, action=None, y=None, *, action_names=None, propensity=None):
        d = check_effect_inputs(X, action, y, action_names, propensity)
        e = self._propensity(d, propensity)
        q = cross_fit_outcomes(d.X, d.action, d.y, d.n_actions, self.model_regression, per_action=self.per_action,
                               n_folds=self.n_folds, random_state=self.random_state)  # fmt: skip
        onehot = np.eye(d.n_actions)[d.action]
        psi = q + onehot * (d.y - q[np.arange(len(d.y)), d.action])[:, None] / e
        self.pseudo_outcomes_ = psi - psi[:, :1]
        self.ate_ = self.pseudo_outcomes_.mean(axis=0)
        self.se_ = self.pseudo_outcomes_.std(axis=0, ddof=1) / np.sqrt(len(d.y))
        self.n_, self.action_names_, self.propensity_, self.outcome_predictions_, self.data_ = len(d.y), d.action_names, e, q, d
        return self


@dataclass(kw_only=True)
class DML(_ATE):
    """Double machine learning ATEs via DoubleML's average potential outcomes (``DoubleMLAPOS``).

    Contrasts of every drug with the reference arm, with DoubleML's valid intervals.

    References
    ----------
    Chernozhukov V, et al. Double/debiased machine learning for treatment and structural
    parameters. The Econometrics Journal 2018. Bach P, et al. DoubleML - an object-oriented
    implementation of double machine learning in Python. JMLR 2022.
    """

    ml_g: object = None
    ml_m: object = None
    trimming_threshold: float = 0.01

    name = "DML (DoubleML)"

    def fit(self, X, action=None, y=None, *, action_names=None):
        import doubleml as dml

        d = check_effect_inputs(X, action, y, action_names)
        cols = [f"x{j}" for j in range(d.X.shape[1])]
        frame = pd.DataFrame(d.X, columns=cols).assign(y=d.y, drug=d.action)
        data = dml.DoubleMLData(frame, "y", "drug", cols)
        g = self.ml_g or default_regressor(self.random_state)
        m = self.ml_m or default_classifier()
        np.random.seed(self.random_state if self.random_state is not None else None)  # DoubleML draws folds from numpy's global state
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = dml.DoubleMLAPOS(data, g, m, treatment_levels=list(range(d.n_actions)), n_folds=self.n_folds,
                                     trimming_threshold=self.trimming_threshold)  # fmt: skip
            model.fit()
            contrast = model.causal_contrast(reference_levels=[0])
        self.ate_ = np.r_[0.0, np.asarray(contrast.thetas, dtype=float).ravel()]
        self.se_ = np.r_[0.0, np.asarray(contrast.ses, dtype=float).ravel()]
        self.n_, self.action_names_, self.model_, self.data_ = len(d.y), d.action_names, model, d
        return self
