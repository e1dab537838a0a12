from pathlib import Path

import numpy as np
import pytest

from causalrx.exceptions import ValidationError
from causalrx.prep import ComBat, LowRankImputer, log_intensities

REFERENCE = Path(__file__).with_name("data") / "combat_inmoose.npz"


@pytest.mark.parametrize("case", ["plain", "covariate", "mean_only"])
def test_combat_matches_inmoose(case):
    ref = np.load(REFERENCE)
    model = ComBat(mean_only=case == "mean_only")
    cov = ref["sex"][:, None] if case == "covariate" else None
    np.testing.assert_allclose(model.fit_transform(ref["Y"], ref["batch"], cov), ref[case], atol=1e-10)


def test_combat_removes_batch_shift_keeps_biology():
    rng = np.random.default_rng(0)
    n, F = 3000, 50
    batch = rng.choice(["b1", "b2", "b3"], size=n)
    disease = rng.random(n) < 0.3
    shift = {"b1": 0.0, "b2": 1.5, "b3": -1.0}
    Y = rng.normal(0, 1, (n, F)) + np.array([shift[b] for b in batch])[:, None] * rng.uniform(0.5, 1.5, F)
    Y[:, :10] += 1.0 * disease[:, None]  # a true biological difference in 10 proteins
    Y[rng.random(Y.shape) < 0.1] = np.nan  # and 10% missing values
    train = np.arange(n) < 2000
    model = ComBat().fit(Y[train], batch[train], disease[train, None].astype(float))
    out = model.transform(Y[~train], batch[~train], disease[~train, None].astype(float))

    Yt, bt, dt = Y[~train], batch[~train], disease[~train]
    gap = lambda M: np.mean([np.abs(np.nanmean(M[bt == b], 0) - np.nanmean(M[bt == "b1"], 0)).mean() for b in ("b2", "b3")])  # noqa: E731
    assert gap(out) < 0.1 * gap(Yt)  # between-batch mean difference falls by more than 90%
    effect = np.nanmean(out[dt][:, :10], 0) - np.nanmean(out[~dt][:, :10], 0)
    assert np.all(np.abs(effect - 1.0) < 0.2)  # the disease difference is kept
    assert np.isnan(out).sum() == np.isnan(Yt).sum()  # missing stays missing (imputation is separate)


def test_combat_errors():
    Y = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(ValidationError, match="at least 2 batches"):
        ComBat().fit(Y, ["a"] * 10)
    model = ComBat().fit(Y, ["a"] * 5 + ["b"] * 5)
    with pytest.raises(ValidationError, match=r"\['z'\] not seen in fit"):
        model.transform(Y[:2], ["a", "z"])


def test_log_counts_nonpositive():
    out, bad = log_intensities(np.array([[4.0, 0.0], [-1.0, 8.0]]))
    assert bad == 2 and out[0, 0] == 2.0 and np.isnan(out[0, 1]) and out[1, 1] == 3.0


def test_low_rank_imputer_recovers_signal():
    rng = np.random.default_rng(0)
    L = rng.normal(size=(1500, 4)) @ rng.normal(size=(4, 80))
    X = L + 0.2 * rng.normal(size=L.shape)
    M = rng.random(X.shape) < 0.2
    X[M] = np.nan
    imp = LowRankImputer(rank=4, random_state=0).fit(X[:1000])
    out = imp.transform(X[1000:])
    rmse = np.sqrt(np.mean((out - L[1000:])[M[1000:]] ** 2))
    mean_rmse = np.sqrt(np.mean((np.nanmean(X[:1000], 0) - L[1000:])[M[1000:]] ** 2))
    assert rmse < 0.3 < mean_rmse
    np.testing.assert_array_equal(out[~M[1000:]], X[1000:][~M[1000:]])  # observed values untouched
    again = LowRankImputer(rank=4, random_state=0).fit(X[:1000]).transform(X[1000:])
    np.testing.assert_array_equal(out, again)  # same seed, same numbers
