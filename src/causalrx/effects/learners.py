"""Heterogeneous-effect learners behind one interface, wrapping EconML and CausalML.

All handle k drugs (multi-arm, effects versus the named reference arm, wherever it is)
and take ``random_state``. Fitted learners keep no training rows: ``effect(X)`` needs the
patients' covariates. Nuisance models are cross-fitted inside the wrapped libraries.

Inputs: ``action`` may be integers, booleans, whole-number floats or drug names (with
``action_names``), shaped (n,) or (n, 1); ``y`` (n,) or (n, 1). ``outcome`` says what ``y``
is: ``"auto"`` (default) treats a 0/1 outcome with both values as binary, ``"binary"`` or
``"continuous"`` declare it. For a binary outcome the default outcome models are
probabilities (:func:`~causalrx.effects.outcome.default_probability_model`: boosted or
logistic by Brier score) and effects are risk differences, bounded to [-1, 1];
``relative_effect`` gives risk or odds ratios. ``n_jobs`` follows
:mod:`causalrx.parallel` (``None``: every CPU the process may use).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingClassifier

from causalrx.effects.estimate import EffectData, EffectEstimate, check_effect_inputs, is_binary, resolve_covariates, scatter_columns
from causalrx.effects.outcome import ProbabilityRegressor, default_outcome_model, default_probability_model
from causalrx.effects.propensity import PropensityModel, default_classifier
from causalrx.exceptions import ValidationError
from causalrx.parallel import resolve_n_jobs


def _or(model, default):
    """A fresh copy of the user's sub-model, or the default (``is None``: an unfitted ensemble has no length)."""
    return default if model is None else clone(model)


def _regressor(random_state, binary: bool = False):
    """The default outcome model (:func:`~causalrx.effects.outcome.default_outcome_model`: boosting,
    ridge or ridge on asinh(y), by cross-validation), or for a 0/1 outcome
    :func:`~causalrx.effects.outcome.default_probability_model` (boosted or logistic probabilities, by Brier score)."""
    if binary:
        return default_probability_model(random_state)
    return default_outcome_model(random_state)


class PlugInBaseline(BaseEstimator):
    """Cross-fitted T-learner effects ``tau0(x)``, the centre a forest final stage estimates deviations from.

    A forest's leaves average, so its effect surface is flat beyond the data and coarse
    where the effect changes steeply (an outcome that grows exponentially with a covariate
    in one arm only). Fitting the forest on ``y - tau0_a(x)`` for patients on drug ``a``
    leaves it the deviation ``tau_a(x) - tau0_a(x)``, which the doubly robust (or
    orthogonal) moment still identifies exactly (``E[y - tau0_A(x) | x, A = a] =
    mu_a(x) - tau0_a(x)``), and the effect is ``tau0(x)`` plus the forest's estimate.
    ``tau0`` of each training patient comes from models that did not see them (out of
    fold); new patients get the average of the fold models, so the baseline is a fixed
    function given the training data and the forest's intervals for the deviation are
    intervals for the effect.

    Where the T-learner's effects are mostly noise (outcomes noisy relative to the spread
    of the effects, small arms), a forest centred on them inherits that noise, which it
    cannot average away. So each arm's baseline is calibrated: ``tau0_a(x) = m_a +
    slope_a (t_a(x) - m_a)``, where ``t_a`` are the T-learner's out-of-fold effects, ``m_a``
    their mean and ``slope_a`` the least-squares slope of doubly robust pseudo-outcomes on
    them (cross-fitted logistic propensities, clipped at 0.05), held in [0, 1]. A training
    patient's own outcome reaches their offset only through these two numbers per arm,
    fitted on all training patients (the T-learner effects themselves are out of fold). The slope
    is near 1 where the T-learner's effects carry signal (an exponential surface) and near
    0 where they do not, which leaves the forest an almost constant centre. ``slopes_``
    keeps them (the reference arm's is 0). Computed from the training outcomes only.

    Each arm's outcome model is a copy of ``regressor`` (default:
    :func:`~causalrx.effects.outcome.default_outcome_model`). Keeps fitted models only.
    """

    def __init__(self, regressor=None, n_folds: int = 5, random_state=None):
        self.regressor = regressor
        self.n_folds = n_folds
        self.random_state = random_state

    def fit_offsets(self, X, action, y, n_actions: int) -> np.ndarray:
        """Fit the fold models; return each training patient's out-of-fold ``tau0`` for the drug they got (n,)."""
        from causalrx.effects.crossfit import dr_effect_scores, make_folds
        from causalrx.execution import run_inner

        base = self.regressor if self.regressor is not None else default_outcome_model(self.random_state)
        n = len(y)
        mu = np.zeros((n, n_actions))
        folds = make_folds(n, self.n_folds, self.random_state, stratify=action)
        for train, _ in folds:
            for a in range(n_actions):
                if np.count_nonzero(action[train] == a) < 2:
                    raise ValidationError(f"action: drug index {a} has fewer than 2 patients outside a cross-fitting fold; "
                                          "give more patients per drug or baseline='none'")  # fmt: skip
        tasks = [(f"fold {f}", {"train": train}) for f, (train, _) in enumerate(folds)]
        self.models_ = run_inner(_fit_arms, tasks, shared={"base": base, "X": X, "action": action, "y": y, "n_actions": n_actions})
        for models, (_, test) in zip(self.models_, folds):
            mu[test] = np.column_stack([m.predict(X[test]) for m in models])
        t = mu - mu[:, [0]]  # out-of-fold T-learner effects
        e = np.clip(PropensityModel(calibration=None, n_folds=self.n_folds, random_state=self.random_state)
                    .fit_predict(X, action, n_actions), 0.05, 1.0)  # fmt: skip
        # one calibration for training and new patients alike, so that the offsets the final
        # stage was fitted on and the centre added back at prediction agree
        self.means_, self.slopes_ = self._calibration(t, dr_effect_scores(mu, e, action, y))
        return self._calibrated(t)[np.arange(n), action]

    @staticmethod
    def _calibration(t: np.ndarray, psi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per arm: the mean of the T-learner effects and the slope of the pseudo-effects on them, in [0, 1]."""
        means = t.mean(axis=0)
        centred = t - means
        var = (centred**2).mean(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = (centred * (psi - psi.mean(axis=0))).mean(axis=0) / var
        slopes = np.where(var > 0, np.clip(np.nan_to_num(slope), 0.0, 1.0), 0.0)
        slopes[0] = 0.0
        return means, slopes

    def _calibrated(self, t: np.ndarray) -> np.ndarray:
        return self.means_ + self.slopes_ * (t - self.means_)

    def effects(self, X) -> np.ndarray:
        """``tau0(x)`` (n, k) in working order (the reference column 0): the fold models' average, calibrated."""
        tau = np.zeros((len(X), len(self.models_[0])))
        for models in self.models_:
            mu = np.column_stack([m.predict(X) for m in models])
            tau += mu - mu[:, [0]]
        return self._calibrated(tau / len(self.models_))


def _fit_arms(base, X, action, y, n_actions, train) -> list:
    """One fold of :class:`PlugInBaseline`: a copy of ``base`` per drug, fitted on that drug's training patients."""
    models = []
    for a in range(n_actions):
        rows = train[action[train] == a]
        models.append(clone(base).fit(X[rows], y[rows]))
    return models


class FittedEffects(BaseEstimator):
    """What every effect estimator remembers of its training data: the drugs, the reference
    arm and the covariate columns, never a patient row (models hold no patient data)."""

    def _remember(self, data: EffectData) -> None:
        self.action_names_, self.reference_, self.order_ = data.drugs, data.reference, data.order
        self.n_actions_, self.n_features_in_ = data.n_actions, data.X.shape[1]
        if data.feature_names is not None:
            self.feature_names_in_ = np.asarray(data.feature_names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def _covariates(self, X, what: str = "effect"):
        """``(X array, patient ids, drugs of a DecisionProblem or None)``: columns by name where fit had names."""
        if not hasattr(self, "order_"):
            raise ValidationError(f"{type(self).__name__}: call fit before {what}")
        if X is None:
            raise ValidationError(f"X: give the patients' covariates ({type(self).__name__} keeps no training rows)")
        names = getattr(self, "feature_names_in_", None)
        X, ids, drugs = resolve_covariates(X, None if names is None or not _labelled(X) else names)
        if X.shape[1] != self.n_features_in_:
            raise ValidationError(f"X: expected {self.n_features_in_} covariate columns as in fit, got shape {X.shape}")
        return X, ids, drugs

    def _estimate(self, ite, lower, upper, ate, ate_lower, ate_upper, ids, drugs, method=None) -> EffectEstimate:
        """An estimate from working-order arrays, in the fitted drug order (or a problem's)."""
        bound = (lambda a: np.clip(a, -1.0, 1.0)) if getattr(self, "binary_outcome_", False) else (lambda a: a)  # noqa: E731
        back = lambda a: None if a is None else scatter_columns(bound(np.asarray(a, dtype=float)), self.order_)  # noqa: E731
        est = EffectEstimate(ite=back(ite), lower=back(lower), upper=back(upper), ate=back(ate), ate_lower=back(ate_lower),
                             ate_upper=back(ate_upper), method=method or self.name, action_names=self.action_names_,
                             alpha=self.alpha, patient_ids=ids, reference=self.reference_)  # fmt: skip
        return est if drugs is None else est.reindex(drugs=drugs)


def _labelled(X) -> bool:
    from causalrx.data.problem import DecisionProblem

    return isinstance(X, (pd.DataFrame, DecisionProblem))


@dataclass(kw_only=True, repr=False, eq=False)
class _Learner(FittedEffects):
    """Shared fit/effect plumbing; subclasses build the wrapped model in ``_build``."""

    random_state: int | None = None
    alpha: float = 0.05
    outcome: str = "auto"

    name = "learner"
    has_intervals = True

    def fit(self, X, action=None, y=None, *, action_names=None, reference=None):
        """Fit on covariates X (n, d), drug indices (n,) and outcomes (n,), or on a DecisionProblem or Cohort. Returns self.

        With arrays, ``reference`` names the reference arm (default: the first drug).
        """
        data = check_effect_inputs(X, action, y, action_names, reference=reference)
        self.binary_outcome_ = is_binary(data.y, self.outcome)
        self._remember(data)
        self.baseline_ = self._baseline()
        if self.baseline_ is not None:
            offsets = self.baseline_.fit_offsets(data.X, data.action, data.y, data.n_actions)
            data = replace(data, y=data.y - offsets)
        self.model_ = self._build(data)
        self._fit(data)
        self.reference_risk_ = None
        if self.binary_outcome_:  # the reference arm's risk p0(x), for risk and odds ratios
            ref = data.action == 0
            self.reference_risk_ = default_probability_model(self.random_state).fit(data.X[ref], data.y[ref])
        return self

    def _baseline(self):
        """The :class:`PlugInBaseline` to centre on, or None (learners without a ``baseline`` parameter)."""
        choice = getattr(self, "baseline", "none")
        if isinstance(choice, str):
            if choice not in ("auto", "t-learner", "none"):
                raise ValidationError(f"baseline: expected 'auto', 't-learner', 'none' or a regressor, got {choice!r}")
            if choice == "none" or (choice == "auto" and (self.binary_outcome_ or not self._centred_by_default())):
                return None
            choice = _regressor(self.random_state)
        elif not hasattr(choice, "fit") or not hasattr(choice, "predict"):
            raise ValidationError(f"baseline: expected 'auto', 't-learner', 'none' or a regressor with fit/predict, got {type(choice).__name__}")
        if self.binary_outcome_:  # centred outcomes are no longer 0/1, which the probability models refuse
            raise ValidationError("baseline: a binary (0/1) outcome is not centred (its models are probabilities); "
                                  "use baseline='auto' or 'none', or outcome='continuous'")  # fmt: skip
        return PlugInBaseline(choice, n_folds=getattr(self, "n_folds", 5), random_state=self.random_state)

    def _centred_by_default(self) -> bool:
        return True

    def _centre(self, X) -> np.ndarray | None:
        return None if getattr(self, "baseline_", None) is None else self.baseline_.effects(X)

    def _fit(self, data):
        self.model_.fit(data.y, data.action, X=data.X)

    def effect(self, X, *, interval: bool = True) -> EffectEstimate:
        """Effects of every drug vs the reference arm for patients X (array, DataFrame indexed by id, or DecisionProblem).

        ``interval=False`` skips the intervals (NaN), which is much cheaper for the forests;
        :meth:`point_effect` returns the bare (n, k) array.

        ``ite[:, j]`` is drug j versus the reference arm, so the reference arm's column is 0:
        average a drug's column (or read ``ate``), not the whole matrix. For a binary outcome
        (0/1, detected or ``outcome="binary"``) effects are risk differences in [-1, 1].
        """
        return self._effect(*self._covariates(X), interval=interval)

    def _effect(self, X: np.ndarray, ids, drugs, *, interval: bool) -> EffectEstimate:
        """:meth:`effect` of resolved covariates."""
        if not isinstance(interval, (bool, np.bool_)):
            raise ValidationError(f"interval: expected True or False, got {interval!r}")
        if not interval:
            ite = self._point(X)
            nan = np.full_like(ite, np.nan)
            nan[:, 0] = 0.0
            ate_nan = np.full(self.n_actions_, np.nan)
            ate_nan[0] = 0.0
            return self._estimate(ite, nan, nan, ite.mean(axis=0), ate_nan, ate_nan, ids, drugs)
        n, k = len(X), self.n_actions_
        ite, lower, upper = np.zeros((n, k)), np.zeros((n, k)), np.zeros((n, k))
        ate, ate_lo, ate_hi = np.zeros(k), np.zeros(k), np.zeros(k)
        ite[:, 1:], lower[:, 1:], upper[:, 1:], (ate[1:], ate_lo[1:], ate_hi[1:]) = self._all_arms(X)
        centre = self._centre(X)
        if centre is not None:  # the forest estimated deviations from the baseline: shift every figure by it
            ite, lower, upper = ite + centre, lower + centre, upper + centre
            shift = centre.mean(axis=0)
            ate, ate_lo, ate_hi = ate + shift, ate_lo + shift, ate_hi + shift
        return self._estimate(ite, lower, upper, ate, ate_lo, ate_hi, ids, drugs)

    def point_effect(self, X) -> np.ndarray:
        """Point estimates only, (n, k) in the fitted drug order (the reference column zero): much cheaper than :meth:`effect`."""
        X, _, _ = self._covariates(X, "point_effect")
        ite = self._point(X)
        if getattr(self, "binary_outcome_", False):
            ite = np.clip(ite, -1.0, 1.0)
        return scatter_columns(ite, self.order_)

    def relative_effect(self, X, measure: str = "risk ratio", *, interval: bool = True) -> EffectEstimate:
        """Risk ratios or odds ratios of every drug vs the reference arm, for a binary outcome.

        Each patient's reference-arm risk ``p0(x)`` comes from
        :func:`~causalrx.effects.outcome.default_probability_model` fitted on the reference
        arm's patients at ``fit``; the drug's risk is ``p1 = p0 + RD`` with the
        learner's risk difference ``RD``, both held in [0.001, 0.999] so that ratios stay
        finite. Then ``RR = p1 / p0`` and ``OR = p1 (1 - p0) / (p0 (1 - p1))``; the reference
        arm's column is 1. ``ate`` is the marginal ratio ``mean(p1) / mean(p0)`` (odds of
        the mean risks for ``"odds ratio"``). Interval bounds are the risk difference's
        bounds mapped through the same formula with ``p0`` held fixed: they leave out the
        error of ``p0`` itself, so they are narrower than a full interval where the
        reference risk is poorly estimated.
        """
        if measure not in ("risk ratio", "odds ratio"):
            raise ValidationError(f"measure: expected 'risk ratio' or 'odds ratio', got {measure!r}")
        if not getattr(self, "binary_outcome_", False):
            raise ValidationError(f"measure: {measure} needs a binary (0/1) outcome; {type(self).__name__} was fitted on a "
                                  "continuous one (outcome='binary' declares it)")  # fmt: skip
        Xa, ids, drugs = self._covariates(X, "relative_effect")
        rd = self._effect(Xa, ids, drugs, interval=interval)
        eps = 1e-3
        p0 = np.clip(self.reference_risk_.predict(Xa), eps, 1 - eps)[:, None]
        ref = rd.reference_index

        def ratio(p0, diff):
            p1 = np.clip(p0 + diff, eps, 1 - eps)
            out = p1 / p0 if measure == "risk ratio" else p1 * (1 - p0) / (p0 * (1 - p1))
            out = np.where(np.isnan(diff), np.nan, out)
            out[..., ref] = 1.0
            return out

        m0 = np.full(len(rd.action_names), float(p0.mean()))
        return replace(rd, ite=ratio(p0, rd.ite), lower=ratio(p0, rd.lower), upper=ratio(p0, rd.upper), ate=ratio(m0, rd.ate),
                       ate_lower=ratio(m0, rd.ate_lower), ate_upper=ratio(m0, rd.ate_upper), scale=measure,
                       method=f"{rd.method}, {measure}")  # fmt: skip

    def _point(self, X: np.ndarray) -> np.ndarray:
        """Point estimates (n, k) of resolved covariates in working order (the reference column zero)."""
        ite = np.zeros((len(X), self.n_actions_))
        if isinstance(self, RLearner):  # CausalML: per-arm predictions through _arm
            ite[:, 1:] = np.column_stack([self._arm(X, a)[0] for a in range(1, self.n_actions_)])
        elif hasattr(self.model_, "const_marginal_effect"):  # EconML, all arms in one call
            ite[:, 1:] = self.model_.const_marginal_effect(X).reshape(len(X), -1)
        else:
            ite[:, 1:] = np.column_stack([self.model_.effect(X, T0=0, T1=a) for a in range(1, self.n_actions_)])
        centre = self._centre(X)
        return ite if centre is None else ite + centre

    def _all_arms(self, X):
        """Effects of working drugs 1..k-1: ite, lower, upper (n, k-1) and (ate, ate_lower, ate_upper) (k-1,).

        EconML models give every drug's contrast with the reference arm (treatment 0) and its
        variance in one pass (``const_marginal_effect_inference``), which is an order of
        magnitude cheaper for a forest than asking per drug for the effect, its interval and
        the average's interval (three passes each)."""
        m = self.model_
        if self.has_intervals and hasattr(m, "const_marginal_effect_inference"):
            inference, n = m.const_marginal_effect_inference(X), len(X)
            te = inference.point_estimate.reshape(n, -1)
            lo, hi = (bound.reshape(n, -1) for bound in inference.conf_int(alpha=self.alpha))
            ate_lo, ate_hi = inference.population_summary(alpha=self.alpha).conf_int_mean()
            return te, lo, hi, (te.mean(axis=0), np.ravel(ate_lo), np.ravel(ate_hi))
        arms = [self._arm(X, a) for a in range(1, self.n_actions_)]
        stack = [np.column_stack([arm[j] for arm in arms]) for j in range(3)]
        return (*stack, tuple(np.array([arm[3][j] for arm in arms]) for j in range(3)))

    def _arm(self, X, a):
        m = self.model_
        te = m.effect(X, T0=0, T1=a)
        if not self.has_intervals:
            nan = np.full(len(X), np.nan)
            return te, nan, nan, (te.mean(), np.nan, np.nan)
        lo, hi = m.effect_interval(X, T0=0, T1=a, alpha=self.alpha)
        ate_lo, ate_hi = m.ate_interval(X, T0=0, T1=a, alpha=self.alpha)
        return te, lo, hi, (float(te.mean()), float(ate_lo), float(ate_hi))

@dataclass(kw_only=True, repr=False, eq=False)
class DRLearner(_Learner):
    """Doubly robust learner (EconML): regress DR pseudo-outcomes on X.

    ``final="forest"`` (default) uses a generalised random forest final stage with
    intervals (``ForestDRLearner``); ``final="linear"`` a linear final stage with
    normal intervals (``LinearDRLearner``). Propensities are clipped to
    ``[min_propensity, 1 - min_propensity]`` (default 0.05: inverse weights of at most 20,
    which keeps a few poorly overlapping patients from dominating the pseudo-outcomes).
    ``n_estimators``, ``min_samples_leaf``,
    ``max_samples`` (the share of patients each tree sees) and ``n_jobs`` set the forest, as
    for :class:`CausalForest`: on large cohorts a small ``max_samples`` keeps fits fast.

    ``baseline`` centres the final stage (:class:`PlugInBaseline`): ``"auto"`` (default)
    fits the forest on deviations from a cross-fitted, calibrated T-learner for a continuous outcome
    and on the raw pseudo-outcomes for a binary one; ``"t-learner"`` always, ``"none"``
    never, or give the per-arm regressor. The forest alone is flat beyond the data and
    badly wrong where one arm's outcome grows exponentially (IHDP, ``benchmarks/bench_ihdp.py``).

    References
    ----------
    Kennedy EH. Towards optimal doubly robust estimation of heterogeneous causal effects. 2020.
    """

    final: str = "forest"
    model_regression: object = None
    model_propensity: object = None
    n_folds: int = 5
    min_propensity: float = 0.05
    n_estimators: int = 400
    min_samples_leaf: int = 10
    max_samples: float = 0.45
    n_jobs: int | None = None
    baseline: object = "auto"

    @property
    def name(self):
        return f"DR-learner ({self.final})"

    def _build(self, data):
        from econml.dr import ForestDRLearner, LinearDRLearner

        common = dict(model_regression=_or(self.model_regression, _regressor(self.random_state, self.binary_outcome_)),
                      model_propensity=_or(self.model_propensity, default_classifier()), cv=self.n_folds,
                      min_propensity=self.min_propensity, random_state=self.random_state)  # fmt: skip
        if self.final == "forest":
            return ForestDRLearner(n_estimators=self.n_estimators, min_samples_leaf=self.min_samples_leaf,
                                   max_samples=self.max_samples, n_jobs=resolve_n_jobs(self.n_jobs), **common)  # fmt: skip
        if self.final == "linear":
            return LinearDRLearner(**common)
        raise ValidationError(f"final: expected 'forest' or 'linear', got {self.final!r}")


@dataclass(kw_only=True, repr=False, eq=False)
class CausalForest(_Learner):
    """Causal forest with double machine learning residualisation (EconML ``CausalForestDML``).

    ``max_samples`` subsamples each tree (and ``n_estimators`` sets their number), which is
    what keeps 100,000-patient fits within minutes: with ``n_estimators=200,
    max_samples=0.1, n_folds=3`` and early-stopped boosting nuisances, 100,000 patients x 6 drugs
    x 50 covariates fit in under a minute on 2 cores (``benchmarks/bench_effects.py``) and
    are more accurate than the default forest on 5,000 patients; each tree still sees
    10,000 patients.

    ``baseline`` centres the forest as for :class:`DRLearner` (default ``"auto"``: on a
    cross-fitted T-learner for a continuous outcome; ``"none"`` for the plain forest).

    References
    ----------
    Athey S, Tibshirani J, Wager S. Generalized random forests. Ann Statist 2019;47(2):1148-1178.
    """

    n_estimators: int = 400
    min_samples_leaf: int = 10
    max_samples: float = 0.45
    model_y: object = None
    model_t: object = None
    n_folds: int = 5
    n_jobs: int | None = None
    baseline: object = "auto"

    name = "causal forest (DML)"

    def _build(self, data):
        from econml.dml import CausalForestDML

        return CausalForestDML(
            model_y=_or(self.model_y, _regressor(self.random_state, self.binary_outcome_)),
            model_t=_or(self.model_t, HistGradientBoostingClassifier(max_iter=100, random_state=self.random_state)),
            discrete_treatment=True, cv=self.n_folds, n_estimators=self.n_estimators, min_samples_leaf=self.min_samples_leaf,
            max_samples=self.max_samples, n_jobs=resolve_n_jobs(self.n_jobs), random_state=self.random_state,
        )  # fmt: skip


@dataclass(kw_only=True, repr=False, eq=False)
class MetaLearner(_Learner):
    """S-, T- or X-learner (EconML metalearners); point estimates only (no intervals).

    ``baseline`` centres the S- and X-learners as for :class:`DRLearner` (default
    ``"auto"``: on a cross-fitted T-learner for a continuous outcome, so a single model
    over all arms, or the X-learner's effect models, learn deviations from it; ``"none"``
    for the plain learner). A T-learner is never centred by default.

    References
    ----------
    Kunzel SR, Sekhon JS, Bickel PJ, Yu B. Metalearners for estimating heterogeneous
    treatment effects using machine learning. PNAS 2019;116(10):4156-4165.
    """

    kind: str = "T"
    model: object = None
    baseline: object = "auto"

    has_intervals = False

    def _centred_by_default(self) -> bool:
        return self.kind != "T"  # a T-learner centred on a T-learner would fit the same models twice

    @property
    def name(self):
        return f"{self.kind}-learner"

    def _build(self, data):
        from econml.metalearners import SLearner, TLearner, XLearner

        model = _or(self.model, _regressor(self.random_state, self.binary_outcome_))
        if self.kind == "S":
            return SLearner(overall_model=model)
        if self.kind == "T":
            return TLearner(models=model)
        if self.kind == "X":  # the second stage regresses imputed effects: a regressor even for a 0/1 outcome
            return XLearner(models=model, cate_models=_or(self.model, _regressor(self.random_state)) if self.binary_outcome_ else None,
                            propensity_model=default_classifier())  # fmt: skip
        raise ValidationError(f"kind: expected 'S', 'T' or 'X', got {self.kind!r}")


@dataclass(kw_only=True, repr=False, eq=False)
class RLearner(_Learner):
    """R-learner (CausalML ``BaseRRegressor``): minimises the Robinson residual loss; point estimates only.

    ``baseline`` centres it as for :class:`DRLearner` (default ``"auto"``: on a
    cross-fitted T-learner for a continuous outcome; ``"none"`` for the plain learner).

    References
    ----------
    Nie X, Wager S. Quasi-oracle estimation of heterogeneous treatment effects.
    Biometrika 2021;108(2):299-319.
    """

    model: object = None
    n_folds: int = 5
    baseline: object = "auto"

    has_intervals = False
    name = "R-learner"

    def _build(self, data):
        from causalml.inference.meta import BaseRRegressor

        return BaseRRegressor(learner=_or(self.model, _regressor(self.random_state)), control_name=0, n_fold=self.n_folds,
                              random_state=self.random_state)  # fmt: skip

    def _fit(self, data):
        e = PropensityModel(random_state=self.random_state).fit_predict(data.X, data.action, data.n_actions)
        self.model_.fit(data.X, data.action, data.y, p={a: e[:, a] / (e[:, a] + e[:, 0]) for a in range(1, data.n_actions)})

    def _arm(self, X, a):
        te = self.model_.predict(X)[:, a - 1]
        nan = np.full(len(X), np.nan)
        return te, nan, nan, (float(te.mean()), np.nan, np.nan)
