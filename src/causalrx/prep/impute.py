"""Imputers fitted on training patients only and applied to new ones unchanged.

- :class:`LowRankImputer`: a rank-r model of the feature matrix (iterative SVD, as in
  "hard impute"), fitted on the training rows; a new row's missing entries are filled from
  the scores that best explain its *observed* entries (ridge least squares on the learned
  components), so no other patient's values are needed at prediction time.
- KNN imputation is scikit-learn's ``KNNImputer``: it keeps the training rows as donors, so
  a test row is filled from training neighbours only. Its cost grows with n_train x n, so
  for tens of thousands of patients prefer the low-rank imputer.
- Missing-indicator columns come from scikit-learn's ``MissingIndicator`` (see
  :class:`~causalrx.prep.preprocessor.Preprocessor`).

References
----------
Mazumder R, Hastie T, Tibshirani R. Spectral regularization algorithms for learning large
incomplete matrices. JMLR 2010;11:2287-2322.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.extmath import randomized_svd

from causalrx.exceptions import ValidationError


class LowRankImputer(TransformerMixin, BaseEstimator):
    """Fill missing values from a rank-``rank`` model learned on the training rows.

    Parameters
    ----------
    rank : int
        Number of components.
    max_iter, tol : int, float
        Iterative SVD stops when the relative change of the filled entries is below ``tol``.
    ridge : float
        Penalty on the scores of a new row (stabilises rows with few observed values).
    max_fit_rows : int or None
        Fit the components on at most this many training rows (a random subset), for speed.
    random_state : int, optional
    """

    def __init__(self, rank: int = 10, max_iter: int = 50, tol: float = 1e-4, ridge: float = 1e-3, max_fit_rows: int | None = 20_000, random_state=None):
        self.rank = rank
        self.max_iter = max_iter
        self.tol = tol
        self.ridge = ridge
        self.max_fit_rows = max_fit_rows
        self.random_state = random_state

    def fit(self, X, y=None) -> LowRankImputer:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValidationError(f"X: expected a 2-D array, got shape {X.shape}")
        rng = np.random.default_rng(self.random_state)
        if self.max_fit_rows is not None and len(X) > self.max_fit_rows:
            X = X[np.sort(rng.choice(len(X), self.max_fit_rows, replace=False))]
        miss = np.isnan(X)
        empty = np.flatnonzero(miss.all(axis=0))
        if len(empty):
            raise ValidationError(f"X: column(s) {empty[:5].tolist()} have no observed value in the training rows")
        rank = min(self.rank, min(X.shape) - 1)
        if rank < 1:
            raise ValidationError(f"rank: expected 1 <= rank < min(n, p) = {min(X.shape)}, got {self.rank}")
        self.mean_ = np.nanmean(X, axis=0)
        self.scale_ = np.nanstd(X, axis=0)
        self.scale_[self.scale_ == 0] = 1.0
        Z = np.where(miss, 0.0, (X - self.mean_) / self.scale_)
        seed = int(rng.integers(2**31 - 1))
        for it in range(self.max_iter):
            U, s, Vt = randomized_svd(Z, rank, random_state=seed)
            fill = (U[:, :rank] * s) @ Vt
            old = Z[miss]
            Z[miss] = fill[miss]
            change = np.linalg.norm(Z[miss] - old) / max(np.linalg.norm(Z[miss]), 1e-12)
            if change < self.tol:
                break
        self.components_ = Vt  # (rank, p), orthonormal rows
        self.n_iter_ = it + 1
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X) -> np.ndarray:
        if not hasattr(self, "components_"):
            raise ValidationError("LowRankImputer: call fit before transform")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValidationError(f"X: expected {self.n_features_in_} columns (as at fit), got shape {X.shape}")
        miss = np.isnan(X)
        if not miss.any():
            return X.copy()
        Z = np.where(miss, 0.0, (X - self.mean_) / self.scale_)
        V = self.components_  # (r, p)
        r = len(V)
        outer = (V.T[:, :, None] * V.T[:, None, :]).reshape(V.shape[1], r * r)  # (p, r*r)
        gram = ((~miss).astype(np.float64) @ outer).reshape(len(X), r, r) + self.ridge * np.eye(r)
        scores = np.linalg.solve(gram, (Z @ V.T)[:, :, None])[:, :, 0]
        fill = (scores @ V) * self.scale_ + self.mean_
        return np.where(miss, fill, X)
