import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from causalrx.risk import auroc_delong_interval, delong_test


def _delong_by_definition(y, a, b):
    """DeLong et al. (1988) eq. by explicit loops over positive-negative pairs."""
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)

    def psi(x, z):
        return 1.0 if x > z else 0.5 if x == z else 0.0

    comps = []
    for s in (a, b):
        v10 = np.array([np.mean([psi(s[i], s[j]) for j in neg]) for i in pos])
        v01 = np.array([np.mean([psi(s[i], s[j]) for i in pos]) for j in neg])
        comps.append((v10, v01))
    auc = [c[0].mean() for c in comps]
    s10 = np.cov(np.vstack([comps[0][0], comps[1][0]]))
    s01 = np.cov(np.vstack([comps[0][1], comps[1][1]]))
    s = s10 / len(pos) + s01 / len(neg)
    z = (auc[0] - auc[1]) / np.sqrt(s[0, 0] + s[1, 1] - 2 * s[0, 1])
    return auc, z, 2 * norm.sf(abs(z))


def test_delong_matches_the_definition_with_ties():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 1])
    a = np.array([0.9, 0.8, 0.6, 0.55, 0.6, 0.3, 0.2, 0.1, 0.55, 0.4, 0.35, 0.7])
    b = np.array([0.7, 0.9, 0.4, 0.5, 0.5, 0.6, 0.1, 0.3, 0.2, 0.45, 0.5, 0.65])
    auc, z, p = _delong_by_definition(y, a, b)
    result = delong_test(y, a, b)
    assert result.auc == pytest.approx(tuple(auc), abs=1e-12)
    assert result.z == pytest.approx(z, abs=1e-10)
    assert result.p_value == pytest.approx(p, abs=1e-10)


def test_delong_size_and_power():
    rng = np.random.default_rng(0)
    rejections_null, rejections_alt = 0, 0
    for _ in range(200):
        x = rng.normal(size=300)
        y = (rng.uniform(size=300) < 1 / (1 + np.exp(-x))).astype(int)
        noisy_1 = x + rng.normal(0, 1, 300)
        noisy_2 = x + rng.normal(0, 1, 300)
        worse = x + rng.normal(0, 3, 300)
        to_p = lambda s: 1 / (1 + np.exp(-s))  # noqa: E731
        rejections_null += delong_test(y, to_p(noisy_1), to_p(noisy_2)).p_value < 0.05
        rejections_alt += delong_test(y, to_p(x), to_p(worse)).p_value < 0.05
    assert 0.02 <= rejections_null / 200 <= 0.09  # nominal 5%
    assert rejections_alt / 200 > 0.8


def test_auroc_delong_interval_covers():
    rng = np.random.default_rng(1)
    big = rng.normal(size=(2, 400_000))
    truth = roc_auc_score(big[0] + big[1] > 0, big[0])  # population AUROC of x, by a large sample
    covered = 0
    for _ in range(300):
        x = rng.normal(size=400)
        y = (x + rng.normal(size=400) > 0).astype(int)
        _, lo, hi = auroc_delong_interval(y, 1 / (1 + np.exp(-x)))
        covered += lo <= truth <= hi
    assert 0.91 <= covered / 300 <= 0.98
