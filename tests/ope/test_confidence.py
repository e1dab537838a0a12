"""High-confidence lower bounds and off-policy selection: hand-computed bounds, validity over seeds, selection rules."""

import math

import numpy as np
import pytest
from scipy.stats import t as student_t

from causalrx.data import BanditFeedback
from causalrx.exceptions import ValidationError
from causalrx.ope import DR, IPS
from causalrx.ope.confidence import bernstein_lower_bound, lower_bound, select_policy

ACTION = np.array([0, 1, 1, 0])
REWARD = np.array([1.0, 0.0, 2.0, 3.0])
PSCORE = np.array([0.5, 0.25, 0.5, 0.8])
TARGET = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [0.2, 0.8]])  # weights [2, 2, 2, 0.25]


def tiny(mask=None):
    return BanditFeedback(context=np.zeros((4, 1)), action=ACTION, reward=REWARD, action_names=("ref", "drug"), pscore=PSCORE,
                          mask=mask)  # fmt: skip


def test_bernstein_bound_by_hand():
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    log_term = math.log(2 / 0.1)
    expected = 2.0 - math.sqrt(2 * 2.5 * log_term / 5) - 7 * 4.0 * log_term / (3 * 4)
    assert bernstein_lower_bound(x, 4.0, 0.1) == pytest.approx(expected)


def test_t_and_bootstrap_bounds_on_the_tiny_data():
    terms = np.array([2.0, 0.0, 4.0, 0.75])  # w * r
    got = lower_bound(tiny(), TARGET, method="t", alpha=0.1)
    assert got.estimator == "IPS" and got.value == pytest.approx(1.6875)
    assert got.lower_bound == pytest.approx(terms.mean() - student_t.ppf(0.9, 3) * terms.std(ddof=1) / 2)
    boot = lower_bound(tiny(), TARGET, method="bootstrap", alpha=0.1, random_state=1)
    assert 0.0 <= boot.lower_bound < boot.value  # a resampled mean of these terms
    assert lower_bound(tiny(), TARGET, method="bootstrap", alpha=0.1, random_state=1) == boot  # seeded


def _bandit(n, rng, effect=0.3):
    """Two drugs, logging 50/50, reward in [0, 1] (Bernoulli); the target always gives drug 1."""
    x = rng.normal(size=n)
    action = rng.integers(0, 2, n)
    p = 0.4 + effect * action * (x > 0)
    reward = (rng.random(n) < p).astype(float)
    fb = BanditFeedback(context=x[:, None], action=action, reward=reward, action_names=("ref", "drug"), pscore=np.full(n, 0.5))
    return fb, np.tile([0.0, 1.0], (n, 1)), 0.4 + effect * 0.5


def test_bounds_hold_over_seeds_and_bernstein_is_the_conservative_one():
    held = {m: 0 for m in ("t", "bootstrap", "bernstein")}
    gaps = {m: [] for m in held}
    seeds = 150
    for seed in range(seeds):
        fb, target, truth = _bandit(400, np.random.default_rng(seed))
        for m in held:
            lb = lower_bound(fb, target, method=m, alpha=0.05, reward_range=(0.0, 1.0), n_bootstrap=300, random_state=seed)
            held[m] += lb.lower_bound <= truth
            gaps[m].append(truth - lb.lower_bound)
    assert held["bernstein"] == seeds  # a finite-sample bound, and a loose one
    assert held["t"] / seeds >= 0.90 and held["bootstrap"] / seeds >= 0.90
    assert np.mean(gaps["bernstein"]) > np.mean(gaps["t"])


def test_errors():
    with pytest.raises(ValidationError, match="reward_range"):
        lower_bound(tiny(), TARGET, method="bernstein")
    with pytest.raises(ValidationError, match="reward_range: 1 reward"):
        lower_bound(tiny(), TARGET, method="bernstein", reward_range=(0.0, 2.5))
    with pytest.raises(ValidationError, match="method"):
        lower_bound(tiny(), TARGET, method="hoeffding")
    with pytest.raises(ValidationError, match="alpha"):
        lower_bound(tiny(), TARGET, alpha=0.7)
    no_pscore = BanditFeedback(context=np.random.default_rng(0).normal(size=(40, 1)), action=np.tile([0, 1], 20),
                               reward=np.ones(40), action_names=("ref", "drug"))  # fmt: skip
    with pytest.raises(ValidationError, match="true logging propensities"):
        lower_bound(no_pscore, np.tile([0.5, 0.5], (40, 1)), method="bernstein", reward_range=(0.0, 1.0))


def test_selection_by_bound_refuses_masked_and_keeps_the_baseline_without_evidence():
    rng = np.random.default_rng(0)
    n = 3000
    fb, always_drug, _ = _bandit(n, rng)
    never = np.tile([1.0, 0.0], (n, 1))
    x = fb.context[:, 0]
    smart = np.column_stack([x <= 0, x > 0]).astype(float)  # the drug only where it helps
    policies = {"clinicians": np.full((n, 2), 0.5), "reference": never, "drug": always_drug, "smart": smart}
    sel = select_policy(fb, policies, criterion="lower_bound", baseline="clinicians")
    assert sel.chosen in ("drug", "smart")  # a real improvement of 0.075-0.15 over the clinicians at n = 3000
    table = sel.table.set_index("policy")
    assert table.loc["smart", "value"] > table.loc["clinicians", "value"]
    # the mask forbids the drug for some patients: policies giving it there are never chosen
    masked = BanditFeedback(context=fb.context, action=fb.action, reward=fb.reward, action_names=fb.action_names, pscore=fb.pscore,
                            mask=np.column_stack([np.ones(n, bool), x > -1]))  # fmt: skip
    safe = select_policy(masked, policies, baseline="clinicians")
    assert bool(safe.table.set_index("policy").loc["drug", "masked"]) and safe.chosen == "smart"
    # no evidence: a tiny cohort keeps the baseline by lower bound, and picks the best estimate by value
    small, small_drug, _ = _bandit(60, np.random.default_rng(3), effect=0.05)
    few = {"clinicians": np.full((60, 2), 0.5), "drug": small_drug, "reference": np.tile([1.0, 0.0], (60, 1))}
    assert select_policy(small, few, baseline="clinicians").chosen == "clinicians"
    by_value = select_policy(small, few, criterion="value")
    assert by_value.chosen == by_value.table.sort_values("value").policy.iloc[-1]
    with pytest.raises(ValidationError, match="baseline"):
        select_policy(small, few, baseline="nobody")
    with pytest.raises(ValidationError, match="criterion"):
        select_policy(small, few, criterion="aic")
    rewards = np.full((60, 2), 0.45)
    assert select_policy(small, few, rewards, estimator=DR(), method="bootstrap").table["lower_bound"].notna().all()
    assert lower_bound(small, small_drug, rewards).estimator == "DR" and lower_bound(small, small_drug).estimator == IPS.name


def test_sequential_lower_bounds_by_hand_and_over_seeds():
    from causalrx.ope.confidence import sequential_lower_bound
    from causalrx.ope.sequential import PDIS, prepare_sequential
    from tests.ope.toy_mdp import simulate, target_dist, true_value

    behaviour, target = np.array([0.5, 0.5]), np.array([0.2, 0.9])
    traj = simulate(300, 3, behaviour, np.random.default_rng(0))
    dist = target_dist(traj, target)
    per_episode = PDIS().columns(prepare_sequential(traj, dist))[0][:, 0]
    got = sequential_lower_bound(traj, dist, estimator=PDIS(), alpha=0.05)
    expected = per_episode.mean() - student_t.ppf(0.95, 299) * per_episode.std(ddof=1) / np.sqrt(300)
    assert got.value == pytest.approx(per_episode.mean()) and got.lower_bound == pytest.approx(expected)
    truth, held = true_value(target, 3), 0
    for seed in range(60):
        t = simulate(300, 3, behaviour, np.random.default_rng(100 + seed))
        held += sequential_lower_bound(t, target_dist(t, target), method="bootstrap", n_bootstrap=300, random_state=seed).lower_bound <= truth
    assert held >= 54  # a one-sided 95% bound (WPDIS) holds in at least 90% of 60 cohorts
    with pytest.raises(ValidationError, match="method"):
        sequential_lower_bound(traj, dist, method="bernstein")
