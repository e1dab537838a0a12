"""Masked policies never choose a masked drug (property test over random masks)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causalrx.exceptions import ValidationError
from causalrx.safety import masked_argmax, masked_greedy, masked_softmax, restrict


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 30), k=st.integers(2, 8), temperature=st.floats(0.01, 10))
def test_no_mass_on_masked_drugs(seed, n, k, temperature):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n, k)) * 10
    mask = rng.random((n, k)) < 0.5
    mask[:, 0] = True
    best = masked_argmax(scores, mask)
    assert mask[np.arange(n), best].all()
    assert np.all(scores[np.arange(n), best] >= np.where(mask, scores, -np.inf).max(axis=1))
    soft = masked_softmax(scores, mask, temperature)
    assert np.all(soft[~mask] == 0) and np.allclose(soft.sum(axis=1), 1)
    assert np.all(masked_greedy(scores, mask)[~mask] == 0)
    free = rng.dirichlet(np.ones(k), size=n)
    safe = restrict(free, mask, fallback=0)
    assert np.all(safe[~mask] == 0) and np.allclose(safe.sum(axis=1), 1)


FLOATS = st.one_of(st.floats(allow_nan=False, allow_infinity=True), st.sampled_from([np.inf, -np.inf, 1e308, -1e308, 0.0]))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), n=st.integers(1, 6), k=st.integers(2, 6),
       temperature=st.one_of(st.floats(1e-300, 1e300), st.just(np.inf)), reference=st.integers(0, 5))  # fmt: skip
def test_masked_helpers_never_leak_whatever_the_scores(data, n, k, temperature, reference):
    reference = reference % k
    scores = np.array(data.draw(st.lists(FLOATS, min_size=n * k, max_size=n * k)), dtype=float).reshape(n, k)
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=n * k, max_size=n * k))).reshape(n, k)
    mask[:, reference] = True
    scores[~mask & (np.arange(n * k).reshape(n, k) % 2 == 0)] = np.nan  # NaN on masked drugs is ignored
    best = masked_argmax(scores, mask)
    assert mask[np.arange(n), best].all()
    soft = masked_softmax(scores, mask, temperature)
    assert np.isfinite(soft).all() and np.all(soft[~mask] == 0) and np.allclose(soft.sum(axis=1), 1)
    free = np.abs(np.nan_to_num(scores, nan=0.0, posinf=1.0, neginf=0.0)) + 0.0
    safe = restrict(np.minimum(free, 1e300), mask, fallback=reference)
    assert np.isfinite(safe).all() and np.all(safe[~mask] == 0) and np.allclose(safe.sum(axis=1), 1)
    row = data.draw(st.integers(0, n - 1))
    broken = scores.copy()
    broken[row, reference] = np.nan  # NaN on an allowed drug: undecidable, so refused by name, never guessed
    for helper in (masked_argmax, masked_softmax):
        with pytest.raises(ValidationError, match="NaN score on an allowed drug"):
            helper(broken, mask)
    with pytest.raises(ValidationError, match="finite, non-negative"):
        restrict(np.where(np.isnan(broken), np.nan, 0.5), mask, fallback=reference)


def test_helpers_refuse_rows_without_an_allowed_drug_and_a_masked_fallback():
    with pytest.raises(ValidationError, match="allow no drug"):
        masked_softmax(np.zeros((1, 2)), np.zeros((1, 2), bool))
    with pytest.raises(ValidationError, match="fallback: column 0 is masked"):
        restrict(np.array([[0.0, 0.0, 1.0]]), np.array([[False, True, False]]), fallback=0)
    with pytest.raises(ValidationError, match="NaN score on an allowed drug"):
        masked_argmax(np.array([[np.nan, 1.0]]), np.ones((1, 2), bool))
    # the reproductions: -inf everywhere allowed, and all-allowed-masked rows
    assert masked_argmax([[5.0, -np.inf, -np.inf]], [[False, True, True]]).tolist() == [1]
    np.testing.assert_allclose(masked_softmax([[np.inf, np.inf, 1.0]], [[True, True, True]]), [[0.5, 0.5, 0.0]])
    np.testing.assert_allclose(masked_softmax([[1.0, 2.0]], [[True, True]], 1e-300), [[0.0, 1.0]])


def test_restrict_falls_back_to_reference_and_errors():
    dist = np.array([[0.0, 1.0, 0.0]])
    mask = np.array([[True, False, True]])
    assert restrict(dist, mask, fallback=0).tolist() == [[1.0, 0.0, 0.0]]
    with pytest.raises(ValidationError, match="allow no drug"):
        masked_argmax(np.zeros((1, 2)), np.zeros((1, 2), bool))
    with pytest.raises(ValidationError, match="same"):
        masked_softmax(np.zeros((2, 2)), np.ones((2, 3), bool))


def test_softmax_temperature_is_checked_and_inf_is_uniform():
    scores, mask = np.array([[1.0, 5.0, 2.0]]), np.array([[True, True, False]])
    np.testing.assert_allclose(masked_softmax(scores, mask, np.inf), [[0.5, 0.5, 0.0]])
    np.testing.assert_allclose(masked_softmax(scores, mask, np.float32(1.0)), masked_softmax(scores, mask, 1.0))
    with pytest.raises(ValidationError, match="temperature: expected a positive number"):
        masked_softmax(scores, mask, 0.0)
