"""Cross-fitting, written once: every doubly-robust quantity uses out-of-fold nuisance predictions.

References
----------
Chernozhukov V, et al. Double/debiased machine learning for treatment and structural
parameters. The Econometrics Journal 2018;21(1):C1-C68.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import KFold, StratifiedKFold

from causalrx.exceptions import ValidationError


def make_folds(n: int, n_folds: int, random_state, stratify: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs of a shuffled K-fold split, stratified on ``stratify`` if given."""
    if not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise ValidationError(f"n_folds: expected an integer >= 2, got {n_folds!r}")
    if n < n_folds:
        raise ValidationError(f"n_folds: {n_folds} folds need at least {n_folds} rows, got {n}")
    dummy = np.zeros(n)
    if stratify is not None:
        counts = np.bincount(np.unique(stratify, return_inverse=True)[1])
        if counts.min() >= n_folds:
            return list(StratifiedKFold(n_folds, shuffle=True, random_state=random_state).split(dummy, stratify))
    return list(KFold(n_folds, shuffle=True, random_state=random_state).split(dummy))


def make_group_folds(groups: np.ndarray, n_folds: int, random_state) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) row index pairs of a shuffled K-fold split of the *groups* (e.g. episodes):
    every row of a group falls in the same fold, so no unit is split between training and test."""
    labels = np.unique(np.asarray(groups), return_inverse=True)[1]
    n_groups = int(labels.max()) + 1 if len(labels) else 0
    if n_groups < n_folds:
        raise ValidationError(f"n_folds: {n_folds} folds need at least {n_folds} groups (episodes), got {n_groups}")
    out = []
    for _, test_groups in make_folds(n_groups, n_folds, random_state):
        test = np.isin(labels, test_groups)
        out.append((np.flatnonzero(~test), np.flatnonzero(test)))
    return out


def cross_fit_predict(
    estimator,
    X: np.ndarray,
    y: np.ndarray,
    predict: Callable,
    *,
    n_folds: int = 5,
    random_state=None,
    stratify: np.ndarray | None = None,
    folds=None,
) -> np.ndarray:
    """Out-of-fold predictions: for each fold, fit a clone of ``estimator`` on the others.

    ``predict(fitted_model, test_index) -> array`` returns the predictions for the held-out
    rows (so callers can predict several counterfactual inputs per row). Returns the
    predictions stacked in row order. The folds run through :func:`causalrx.execution.run_inner`
    (in this process unless a backend is configured); ``estimator``'s ``random_state`` seeds
    every clone alike, so the backend makes no difference to the numbers.
    """
    from causalrx.execution import run_inner

    folds = folds if folds is not None else make_folds(len(y), n_folds, random_state, stratify)
    tasks = [(f"fold {f}", {"train": train, "test": test}) for f, (train, test) in enumerate(folds)]
    preds = run_inner(_fit_predict_fold, tasks, shared={"estimator": estimator, "X": X, "y": y, "predict": predict})
    out = None
    for (train, test), pred in zip(folds, preds):
        if out is None:
            out = np.empty((len(y),) + pred.shape[1:], dtype=float)
        out[test] = pred
    return out


def _fit_predict_fold(estimator, X, y, predict, train, test) -> np.ndarray:
    """One fold of :func:`cross_fit_predict`: a clone fitted on ``train``, its predictions for ``test``."""
    return np.asarray(predict(clone(estimator).fit(X[train], y[train]), test))


def dr_effect_scores(outcome: np.ndarray, propensity: np.ndarray, action: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Doubly robust (AIPW) scores of every drug versus the reference arm (column 0), (n, k).

    ``outcome`` and ``propensity`` are the out-of-fold predictions (n, k) of each patient's
    outcome and probability under every drug: ``q_a + 1{A = a} (y - q_A) / e_A``, minus the
    reference arm's column. Their mean over patients is the ATE.
    """
    rows = np.arange(len(y))
    psi = outcome + np.eye(outcome.shape[1])[action] * ((y - outcome[rows, action]) / propensity[rows, action])[:, None]
    return psi - psi[:, :1]
