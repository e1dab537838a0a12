"""Average treatment effects of k drugs vs the reference arm: IPW, AIPW and DML (DoubleML).

These estimate one effect per drug; :meth:`effect` returns it for every patient (no
heterogeneity) with a valid interval.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.special import ndtri

from sklearn.base import clone

from causalrx.effects.crossfit import dr_effect_scores, make_folds
from causalrx.effects.estimate import EffectEstimate, check_effect_inputs, working_propensity
from causalrx.effects.learners import FittedEffects
from causalrx.effects.outcome import cross_fit_outcomes, default_regressor
from causalrx.effects.propensity import PropensityModel, default_classifier
from causalrx.exceptions import ValidationError


@dataclass(kw_only=True, repr=False, eq=False)
class _ATE(FittedEffects):
    random_state: int | None = None
    alpha: float = 0.05
    n_folds: int = 5
    propensity_model: PropensityModel | None = None

    def effect(self, X) -> EffectEstimate:
        """The ATE of every drug (with its interval), repeated for each patient of X.

        ``ate_`` and ``se_`` (working order: the reference arm first) are what the fit keeps.
        """
        X, ids, drugs = self._covariates(X)
        n = len(X)
        z = ndtri(1 - self.alpha / 2)
        lo, hi = self.ate_ - z * self.se_, self.ate_ + z * self.se_
        tile = lambda a: np.tile(a, (n, 1))  # noqa: E731
        return self._estimate(tile(self.ate_), tile(lo), tile(hi), self.ate_, lo, hi, ids, drugs)

    def _propensity(self, d, given):
        """The given propensities (caller's drug order), or cross-fitted estimates of ``propensity_model``
        (default: ``PropensityModel(n_folds=self.n_folds, random_state=self.random_state)``); working order."""
        if given is not None:
            return working_propensity(given, d)
        if self.propensity_model is not None:
            if not isinstance(self.propensity_model, PropensityModel):
                raise ValidationError(f"propensity_model: expected a PropensityModel, got {type(self.propensity_model).__name__}")
            model = self.propensity_model  # its own folds and settings; its seed, if unset, from this estimator
            model = replace(model, random_state=self.random_state if model.random_state is None else model.random_state)
            return model.fit_predict(d.X, d.action, d.n_actions)
        return PropensityModel(n_folds=self.n_folds, random_state=self.random_state).fit_predict(d.X, d.action, d.n_actions)


@dataclass(kw_only=True, repr=False, eq=False)
class IPW(_ATE):
    """Inverse probability weighting, normalised within arm (Hajek), with influence-function intervals.

    ``propensity`` (n, k) may be given; otherwise it is estimated cross-fitted and calibrated by
    ``propensity_model`` (a :class:`PropensityModel`; default: the calibrated multinomial
    logistic one, with this estimator's ``n_folds`` and ``random_state``).

    References
    ----------
    Hirano K, Imbens GW, Ridder G. Efficient estimation of average treatment effects using
    the estimated propensity score. Econometrica 2003;71(4):1161-1189.
    """

    name = "IPW"

    def fit(self, X, action=None, y=None, *, action_names=None, propensity=None, reference=None):
        d = check_effect_inputs(X, action, y, action_names, propensity, reference)
        e = self._propensity(d, propensity)
        n, k = len(d.y), d.n_actions
        mu, infl = np.zeros(k), np.zeros((n, k))
        for a in range(k):
            w = (d.action == a) / e[:, a]
            mu[a] = np.sum(w * d.y) / np.sum(w)
            infl[:, a] = w * (d.y - mu[a]) / np.mean(w)
        contrast = infl - infl[:, :1]
        self.ate_, self.se_ = mu - mu[0], contrast.std(axis=0, ddof=1) / np.sqrt(n)
        self._remember(d)
        return self


@dataclass(kw_only=True, repr=False, eq=False)
class AIPW(_ATE):
    """Augmented IPW (doubly robust) with cross-fitted outcome and propensity models.

    The fitted estimator keeps the ATE and its standard error only; the per-patient doubly
    robust scores, which validate CATE models, come from :meth:`pseudo_outcomes`.

    ``propensity_model`` (a :class:`PropensityModel`) replaces the default propensity model:
    ``AIPW(propensity_model=PropensityModel(classifier=cross_validated_classifier(),
    calibration=None))`` leaves less confounding in the estimates under strong confounding
    (``benchmarks/bench_propensity_calibration.py``) and is the configuration behind the
    subgroup study of ``benchmarks/bench_autoimmune.py``.

    References
    ----------
    Robins JM, Rotnitzky A, Zhao LP. JASA 1994;89:846-866. Chernozhukov V, et al. Double/
    debiased machine learning. Econometrics J 2018.
    """

    model_regression: object = None
    per_action: bool = True

    name = "AIPW"

    def fit(self, X, action=None, y=None, *, action_names=None, propensity=None, reference=None):
        psi = self._scores(check_effect_inputs(X, action, y, action_names, propensity, reference), propensity)[0]
        self.ate_ = psi.mean(axis=0)
        self.se_ = psi.std(axis=0, ddof=1) / np.sqrt(len(psi))
        return self

    def pseudo_outcomes(self, X, action=None, y=None, *, action_names=None, propensity=None, reference=None):
        """Cross-fitted doubly robust scores on the given data, without keeping them.

        Returns
        -------
        psi, propensity, outcome : arrays (n, k) in *working order* (the reference arm first):
            the per-patient DR scores of each drug vs the reference arm (their mean is the
            ATE), the propensities and the cross-fitted outcome predictions.
        """
        return self._scores(check_effect_inputs(X, action, y, action_names, propensity, reference), propensity)

    def _scores(self, d, propensity):
        e = self._propensity(d, propensity)
        q = cross_fit_outcomes(d.X, d.action, d.y, d.n_actions, self.model_regression, per_action=self.per_action,
                               n_folds=self.n_folds, random_state=self.random_state)  # fmt: skip
        self._remember(d)
        return dr_effect_scores(q, e, d.action, d.y), e, q


@dataclass(kw_only=True, repr=False, eq=False)
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

    def fit(self, X, action=None, y=None, *, action_names=None, reference=None):
        import doubleml as dml

        d = check_effect_inputs(X, action, y, action_names, reference=reference)
        cols = [f"x{j}" for j in range(d.X.shape[1])]
        frame = pd.DataFrame(d.X, columns=cols).assign(y=d.y, drug=d.action)
        data = dml.DoubleMLData(frame, "y", "drug", cols)
        g = default_regressor(self.random_state) if self.ml_g is None else clone(self.ml_g)
        m = default_classifier() if self.ml_m is None else clone(self.ml_m)
        model = dml.DoubleMLAPOS(data, g, m, treatment_levels=list(range(d.n_actions)), n_folds=self.n_folds,
                                 trimming_threshold=self.trimming_threshold, draw_sample_splitting=False)  # fmt: skip
        model.set_sample_splitting(_splits(d, self.n_folds, self.random_state))
        model.fit()
        contrast = model.causal_contrast(reference_levels=[0])
        self.ate_ = np.r_[0.0, np.asarray(contrast.thetas, dtype=float).ravel()]
        self.se_ = np.r_[0.0, np.asarray(contrast.ses, dtype=float).ravel()]
        self._remember(d)
        return self


def _splits(d, n_folds: int, random_state):
    """DoubleML's sample splitting from our own seeded folds (NumPy's global state stays untouched)."""
    return [(train, test) for train, test in make_folds(len(d.y), n_folds, random_state, stratify=d.action)]
