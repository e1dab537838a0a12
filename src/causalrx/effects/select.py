"""Choosing or stacking CATE estimators without ground truth.

True individual effects are never observed, but the doubly robust pseudo-outcome
``psi_a(x) = q(x, a) - q(x, 0) + 1[A=a](y - q(x, a))/e_a(x) - 1[A=0](y - q(x, 0))/e_0(x)``
has conditional mean ``tau_a(x)`` when either nuisance model is right, so
``E[(psi_a - tau_hat_a)^2] = E[(tau_a - tau_hat_a)^2] + const``: the DR loss ranks
candidates by their PEHE. The R-loss (Nie & Wager 2021) is reported beside it.

:class:`CateSelector` fits every candidate out of fold, scores it on held-out patients
against cross-fitted pseudo-outcomes, then either keeps the best (``mode="best"``) or
stacks the candidates with non-negative weights per drug (``mode="stack"``, minimising
the held-out DR loss), and refits the chosen ones on all the data.

References
----------
Saito Y, Yasui S. Counterfactual cross-validation: stable model selection procedure for
causal inference models. ICML 2020. Nie X, Wager S. Quasi-oracle estimation of heterogeneous
treatment effects. Biometrika 2021. Mahajan D, et al. Empirical analysis of model selection
for heterogeneous causal effect estimation. ICLR 2024.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from causalrx.effects.ate import AIPW
from causalrx.effects.crossfit import make_folds
from causalrx.execution import run_inner
from sklearn.base import clone

from causalrx.effects.estimate import EffectEstimate, check_effect_inputs
from causalrx.effects.learners import FittedEffects
from causalrx.exceptions import ValidationError, check_number


@dataclass(kw_only=True, repr=False, eq=False)
class CateSelector(FittedEffects):
    """Cross-validated selection or stacking of CATE estimators.

    Parameters
    ----------
    candidates : dict of name -> unfitted estimator, optional
        Any estimators of :mod:`causalrx.effects` (copied, never modified). Default
        (``None``): :func:`default_candidates`, a T-, an X- and a linear DR-learner.
    mode : {"stack", "best"}
    n_folds : int
        Folds for the out-of-fold candidate predictions.
    pseudo_outcomes : AIPW, optional
        The doubly robust scorer; default ``AIPW`` with cross-fitted boosted models. Its
        outcome model sets how sharply the DR loss ranks the candidates: where boosting
        fits the outcome poorly (a few hundred patients, skewed or multiplicative outcome
        surfaces), noisy pseudo-outcomes cannot tell a candidate that extrapolates badly
        from a good one. A stronger scorer, e.g. ``AIPW(model_regression=
        CrossValidatedRegressor({...}))`` choosing per arm among Gaussian processes on the
        raw and the asinh scale, costs more but ranks better (``benchmarks/bench_ihdp.py``).
    random_state : int, optional
    screen : float, optional
        Stacking only: for each drug, leave out of the weights every candidate whose
        held-out DR loss exceeds the best one's by more than ``screen`` standard errors of
        their paired difference. Non-negative least squares gives small weights to clearly
        worse candidates, and one that extrapolates wildly can then dominate the error on
        new patients. ``None`` (default) stacks all candidates.

    Attributes
    ----------
    scores_ : DataFrame
        Per candidate: held-out DR loss (mean over drugs) with its standard error and the
        standard error of its paired difference to the best candidate, R-loss,
        and its stacking weight per drug (``weight_<drug>``).
    """

    candidates: dict | None = None
    mode: str = "stack"
    n_folds: int = 3
    pseudo_outcomes: object = None
    random_state: int | None = None
    alpha: float = 0.05
    progress: bool = False
    screen: float | None = None

    def fit(self, X, action=None, y=None, *, action_names=None, reference=None):
        """Score, choose or stack the candidates, and refit the chosen ones on all the data.

        Afterwards ``oof_effects(X, ...)`` is *not* kept: the selector keeps the fitted
        candidates and their weights, never the training rows or their predictions.
        """
        candidates = default_candidates(self.random_state) if self.candidates is None else self.candidates
        if not isinstance(candidates, dict) or not candidates:
            raise ValidationError("candidates: expected a non-empty dict of name -> estimator, or None for the default set")
        if self.mode not in ("stack", "best"):
            raise ValidationError(f"mode: expected 'stack' or 'best', got {self.mode!r}")
        if self.screen is not None:
            check_number("screen", self.screen, zero_ok=True, hint=" of standard errors, or None")
        d = check_effect_inputs(X, action, y, action_names, reference=reference)
        n, k, names = len(d.y), d.n_actions, list(candidates)
        scorer = clone(self.pseudo_outcomes) if self.pseudo_outcomes is not None else AIPW(random_state=self.random_state)
        psi, e, q = scorer.pseudo_outcomes(d.X, d.action, d.y, action_names=d.action_names)  # working order already
        oof = np.zeros((len(names), n, k))
        folds = make_folds(n, self.n_folds, self.random_state, stratify=d.action)
        steps = [(i, f) for f in range(len(folds)) for i in range(len(names))]
        shared = {"candidates": candidates, "X": d.X, "action": d.action, "y": d.y, "action_names": d.action_names}
        tasks = [((names[i], f"fold {f}"), {"name": names[i], "train": folds[f][0], "test": folds[f][1]}) for i, f in steps]
        held_out = run_inner(_held_out_effects, tasks, shared=shared, progress=self.progress, desc="CATE selection")
        for (i, f), ite in zip(steps, held_out):
            oof[i, folds[f][1]] = ite  # working order: the reference arm first
        # DR loss per candidate and drug; R-loss with m(x) = sum_a e_a q_a
        err = (psi[None, :, 1:] - oof[:, :, 1:]) ** 2  # (m, n, k-1)
        dr_loss = err.mean(axis=(1, 2))
        dr_se = err.mean(axis=2).std(axis=1, ddof=1) / np.sqrt(n)
        m = (e * q).sum(axis=1)
        treat = np.eye(k)[d.action] - e  # residualised one-hot
        r_loss = np.array([np.mean(((d.y - m) - (treat[:, 1:] * oof[i, :, 1:]).sum(axis=1)) ** 2) for i in range(len(names))])
        weights = np.zeros((len(names), k))
        for a in range(1, k):
            loss = err[:, :, a - 1].mean(axis=1)
            if self.mode == "stack":
                keep = self._screened(err[:, :, a - 1], loss)  # always holds the best candidate
                w, _ = nnls(oof[keep][:, :, a].T, psi[:, a])
                if w.sum() > 0:
                    weights[keep, a] = w / w.sum()
                    continue
            weights[np.argmin(loss), a] = 1.0  # "best" mode, or no positive stacking weight
        diff_se = _paired_se(err.mean(axis=2), np.argmin(dr_loss))
        table = pd.DataFrame({"candidate": names, "dr_loss": dr_loss, "dr_loss_se": dr_se, "diff_to_best_se": diff_se,
                              "r_loss": r_loss})  # fmt: skip
        for a in range(1, k):
            table[f"weight_{d.action_names[a]}"] = weights[:, a]
        self.scores_ = table.sort_values("dr_loss", ignore_index=True)
        self.weights_, self.names_ = weights, names
        self._remember(d)
        chosen = [name for i, name in enumerate(names) if weights[i].any()]
        refits = run_inner(_fit_candidate, [(name, {"name": name}) for name in chosen], shared=shared, desc="CATE refits")
        self.fitted_ = dict(zip(chosen, refits))
        return self

    def _screened(self, err: np.ndarray, loss: np.ndarray) -> np.ndarray:
        """Candidates (rows of the per-patient losses ``err``, mean ``loss``) kept for stacking one drug."""
        if self.screen is None:
            return np.ones(len(loss), dtype=bool)
        best = np.argmin(loss)
        return loss <= loss[best] + self.screen * _paired_se(err, best)

    def effect(self, X) -> EffectEstimate:
        """The stacked (or best) individual effects; intervals are those of the single chosen
        candidate when one candidate carries all the weight of a drug, NaN otherwise.

        ``weights_`` (candidates x drugs) are in working order (the reference arm first)."""
        X, ids, drugs = self._covariates(X)
        estimates = {name: model.effect(X) for name, model in self.fitted_.items()}  # working order
        n, k = len(X), self.n_actions_
        ite, lower, upper = np.zeros((n, k)), np.full((n, k), np.nan), np.full((n, k), np.nan)
        lower[:, 0] = upper[:, 0] = 0.0
        for i, name in enumerate(self.names_):
            if name in estimates:
                ite += self.weights_[i] * estimates[name].ite
        for a in range(1, k):
            solo = np.flatnonzero(self.weights_[:, a] == 1.0)
            if len(solo):
                est = estimates[self.names_[solo[0]]]
                lower[:, a], upper[:, a] = est.lower[:, a], est.upper[:, a]
        label = "best of" if self.mode == "best" else "stack of"
        nan = np.full(k, np.nan)
        return self._estimate(ite, lower, upper, ite.mean(axis=0), nan, nan, ids, drugs, f"{label} {', '.join(self.fitted_)}")


def _fit_candidate(candidates, name, X, action, y, action_names, rows=None):
    """A copy of candidate ``name`` fitted on ``rows`` (default: all)."""
    rows = slice(None) if rows is None else rows
    return clone(candidates[name]).fit(X[rows], action[rows], y[rows], action_names=action_names)


def _held_out_effects(candidates, name, X, action, y, action_names, train, test) -> np.ndarray:
    """Candidate ``name`` fitted on ``train``: its individual effects for ``test`` (working order)."""
    return _fit_candidate(candidates, name, X, action, y, action_names, rows=train).effect(X[test]).ite


def default_candidates(random_state=None) -> dict:
    """The default candidates of :class:`CateSelector`: different biases, each cheap to fit.

    A T-learner (separate outcome models per drug), an X-learner (imputed effects, weighted
    by the propensity) and a linear DR-learner (doubly robust pseudo-outcomes, a linear
    deviation from a cross-fitted T-learner), all with the default outcome models
    (:func:`~causalrx.effects.outcome.default_outcome_model`, or
    :func:`~causalrx.effects.outcome.default_probability_model` for a 0/1 outcome).
    """
    from causalrx.effects.learners import DRLearner, MetaLearner

    return {"T-learner": MetaLearner(kind="T", random_state=random_state),
            "X-learner": MetaLearner(kind="X", random_state=random_state),
            "DR-learner (linear)": DRLearner(final="linear", random_state=random_state)}  # fmt: skip


def _paired_se(per_patient: np.ndarray, best: int) -> np.ndarray:
    """Standard error of each candidate's mean loss minus the best's, paired by patient."""
    return (per_patient - per_patient[best]).std(axis=1, ddof=1) / np.sqrt(per_patient.shape[1])
