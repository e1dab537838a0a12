"""Proteomics: log transform and ComBat batch correction that is fitted once and applied
to new patients unchanged.

:class:`ComBat` is the parametric empirical-Bayes location/scale adjustment of Johnson,
Li and Rabinovic (2007), as in R's ``sva::ComBat`` and inmoose's ``pycombat_norm`` (our
tests compare against the latter). Unlike those, it separates ``fit`` (estimate the
batch effects on training patients) from ``transform`` (remove them from any patient of a
known batch), so validation and test patients never shape the correction. Missing values
are allowed: every mean, variance and count uses the observed entries of each feature.
Biological covariates passed as ``covariates`` are protected (their effect is kept).
Variances (per-batch scale, prior moments) divide by n, as inmoose does (sva divides by
n - 1; the two agree as batches grow); the ``mean_only`` shrinkage uses sva's weights.

References
----------
Johnson WE, Li C, Rabinovic A. Adjusting batch effects in microarray expression data using
empirical Bayes methods. Biostatistics 2007;8(1):118-127.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
import pandas as pd

from causalrx.exceptions import ValidationError


def log_intensities(values: np.ndarray, *, base: float = 2.0) -> tuple[np.ndarray, int]:
    """``log_base`` of positive intensities; non-positive values become NaN and are counted."""
    x = np.asarray(values, dtype=np.float64)
    bad = np.isfinite(x) & (x <= 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(bad, np.nan, np.log(x) / np.log(base))
    return out, int(bad.sum())


def _design(batch: np.ndarray, batches: np.ndarray, covariates: np.ndarray | None) -> np.ndarray:
    onehot = (batch[:, None] == batches[None, :]).astype(np.float64)
    return onehot if covariates is None else np.column_stack([onehot, covariates])


def _nan_lstsq(X: np.ndarray, Y: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Per-feature least squares of Y on X using each feature's observed rows, batched.

    Solves ``(X' diag(m_f) X) b_f = X' (m_f * y_f)`` for every feature f at once: the Gram
    matrices come from one product ``M' (X_a * X_b)``.
    """
    p = X.shape[1]
    if observed.all():
        return np.linalg.lstsq(X, Y, rcond=None)[0]
    m = observed.astype(np.float64)
    pairs = (X[:, :, None] * X[:, None, :]).reshape(len(X), p * p)
    gram = (m.T @ pairs).reshape(-1, p, p)  # (F, p, p)
    rhs = X.T @ np.where(observed, Y, 0.0)  # (p, F)
    gram += np.eye(p) * 1e-10
    return np.linalg.solve(gram, rhs.T[:, :, None])[:, :, 0].T


class ComBat(BaseEstimator):
    """Empirical-Bayes batch correction with a fit/transform split.

    Parameters
    ----------
    parametric : bool
        Parametric priors (normal for batch means, inverse gamma for batch variances), the
        ComBat default. ``False`` is not implemented: use the parametric form.
    mean_only : bool
        Adjust only batch means (for batches whose spread is genuinely comparable).
    tol, max_iter : float, int
        Convergence of the empirical-Bayes fixed point (sva uses 1e-4).

    Attributes
    ----------
    batches_ : array of batch labels seen in fit
    gamma_star_, delta_star_ : (n_batches, n_features) shrunken batch location and scale
    grand_mean_, var_pooled_, beta_covariates_ : per-feature standardisation
    """

    def __init__(self, *, parametric: bool = True, mean_only: bool = False, tol: float = 1e-4, max_iter: int = 1000):
        self.parametric = parametric
        self.mean_only = mean_only
        self.tol = tol
        self.max_iter = max_iter

    def _check(self, Y, batch, covariates, fitting: bool):
        Y = Y.to_numpy(dtype=np.float64) if isinstance(Y, pd.DataFrame) else np.asarray(Y, dtype=np.float64)
        batch = np.asarray(batch).astype(str)
        if Y.ndim != 2 or batch.shape != (len(Y),):
            raise ValidationError(f"batch: expected one label per row of the ({len(Y)}, F) matrix, got shape {batch.shape}")
        if np.isinf(Y).any():
            raise ValidationError("proteomics: infinite values; log-transform positive intensities first")
        C = None
        if covariates is not None:
            C = covariates.to_numpy(dtype=np.float64) if isinstance(covariates, pd.DataFrame) else np.asarray(covariates, dtype=np.float64)
            C = C.reshape(len(Y), -1)
            if np.isnan(C).any():
                raise ValidationError("covariates: NaN values; ComBat's protected covariates must be complete")
        if fitting and not self.parametric:
            raise ValidationError("parametric=False: the non-parametric ComBat prior is not implemented")
        return Y, batch, C

    def fit(self, Y, batch, covariates=None) -> ComBat:
        """Estimate batch effects on training rows ``Y`` (patients x features)."""
        Y, batch, C = self._check(Y, batch, covariates, fitting=True)
        batches, counts = np.unique(batch, return_counts=True)
        if len(batches) < 2:
            raise ValidationError(f"batch: ComBat needs at least 2 batches, got {[str(b) for b in batches]}")
        if counts.min() < 2:
            raise ValidationError(f"batch: every batch needs at least 2 patients; {[str(b) for b in batches[counts < 2]]} have 1")
        obs = ~np.isnan(Y)
        X = _design(batch, batches, C)
        beta = _nan_lstsq(X, Y, obs)  # (p, F)
        nb = len(batches)
        n_obs = np.stack([obs[batch == b].sum(0) for b in batches])  # (nb, F)
        if (n_obs == 0).any():
            b, f = np.argwhere(n_obs == 0)[0]
            raise ValidationError(f"proteomics: feature {f} has no observed value in batch {batches[b]!r}; drop it or impute first")
        grand = (n_obs / n_obs.sum(0)) * beta[:nb]
        grand = grand.sum(0)
        resid = np.where(obs, Y - X @ beta, np.nan)
        var_pooled = np.nanmean(resid**2, axis=0)
        var_pooled = np.where(var_pooled > 0, var_pooled, 1.0)
        self.batches_, self.grand_mean_, self.var_pooled_ = batches, grand, var_pooled
        self.beta_covariates_ = beta[nb:] if C is not None else np.zeros((0, Y.shape[1]))
        S = self._standardise(Y, C)
        gamma_hat = np.stack([np.nanmean(S[batch == b], axis=0) for b in batches])
        delta_hat = np.stack([np.nanvar(S[batch == b], axis=0) for b in batches]) if not self.mean_only else np.ones_like(gamma_hat)
        gamma_bar = gamma_hat.mean(1, keepdims=True)
        t2 = gamma_hat.var(1, keepdims=True)
        gamma_star, delta_star = np.empty_like(gamma_hat), np.ones_like(gamma_hat)
        for i, b in enumerate(batches):
            Sb, n_b = S[batch == b], n_obs[i]
            if self.mean_only:
                gamma_star[i] = (t2[i] * gamma_hat[i] + gamma_bar[i]) / (t2[i] + 1)  # as sva: n = d* = 1
                continue
            gamma_star[i], delta_star[i] = self._solve(Sb, gamma_hat[i], delta_hat[i], gamma_bar[i, 0], t2[i, 0], n_b, b)
        self.gamma_hat_, self.delta_hat_ = gamma_hat, delta_hat
        self.gamma_star_, self.delta_star_ = gamma_star, delta_star
        self.n_features_ = Y.shape[1]
        return self

    def _solve(self, Sb, g_hat, d_hat, g_bar, t2, n, label):
        m, s2 = d_hat.mean(), d_hat.var()
        a, b = (2 * s2 + m**2) / s2, (m * s2 + m**3) / s2
        g_old, d_old = g_hat.copy(), d_hat.copy()
        for _ in range(self.max_iter):
            g_new = (t2 * n * g_hat + d_old * g_bar) / (t2 * n + d_old)
            sum2 = np.nansum((Sb - g_new) ** 2, axis=0)
            d_new = (0.5 * sum2 + b) / (n / 2.0 + a - 1.0)
            change = max(np.max(np.abs(g_new - g_old) / np.abs(g_old)), np.max(np.abs(d_new - d_old) / d_old))
            g_old, d_old = g_new, d_new
            if change < self.tol:
                return g_new, d_new
        raise ValidationError(f"ComBat: the empirical-Bayes estimates of batch {label!r} did not converge in {self.max_iter} iterations")

    def _stand_mean(self, C):
        return self.grand_mean_ + (C @ self.beta_covariates_ if C is not None else 0.0)

    def _standardise(self, Y, C):
        return (Y - self._stand_mean(C)) / np.sqrt(self.var_pooled_)

    def transform(self, Y, batch, covariates=None) -> np.ndarray:
        """Remove the fitted batch effects from any rows whose batch was seen in ``fit``."""
        if not hasattr(self, "gamma_star_"):
            raise ValidationError("ComBat: call fit before transform")
        Y, batch, C = self._check(Y, batch, covariates, fitting=False)
        if Y.shape[1] != self.n_features_:
            raise ValidationError(f"proteomics: expected {self.n_features_} features (as at fit), got {Y.shape[1]}")
        if (C is None) != (self.beta_covariates_.shape[0] == 0) or (C is not None and C.shape[1] != self.beta_covariates_.shape[0]):
            raise ValidationError(f"covariates: expected {self.beta_covariates_.shape[0]} protected covariate column(s), as at fit")
        unseen = sorted(str(b) for b in set(batch) - set(self.batches_))
        if unseen:
            known = [str(b) for b in self.batches_]
            raise ValidationError(f"batch: {unseen} not seen in fit (known: {known}); ComBat cannot correct an unseen batch")
        idx = np.searchsorted(self.batches_, batch)
        stand_mean = self._stand_mean(C)
        adj = ((Y - stand_mean) / np.sqrt(self.var_pooled_) - self.gamma_star_[idx]) / np.sqrt(self.delta_star_[idx])
        return adj * np.sqrt(self.var_pooled_) + stand_mean

    def fit_transform(self, Y, batch, covariates=None) -> np.ndarray:
        return self.fit(Y, batch, covariates).transform(Y, batch, covariates)
