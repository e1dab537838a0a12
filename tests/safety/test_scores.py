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
    safe = restrict(free, mask)
    assert np.all(safe[~mask] == 0) and np.allclose(safe.sum(axis=1), 1)


def test_restrict_falls_back_to_reference_and_errors():
    dist = np.array([[0.0, 1.0, 0.0]])
    mask = np.array([[True, False, True]])
    assert restrict(dist, mask).tolist() == [[1.0, 0.0, 0.0]]
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
