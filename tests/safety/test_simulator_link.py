"""On the simulator: the starter rules remove real harm."""

import warnings

import numpy as np
import pytest

from causalrx.data.simulate import simulate_cohort
from causalrx.ope import OverlapWarning, RewardModel, audit, constraint_report
from causalrx.safety import RuleSet, masked_greedy


def test_masked_greedy_removes_masked_prescriptions_and_real_harm():
    sim = simulate_cohort(n=6000, n_drugs=16, random_state=8, ecg=False)
    mask = RuleSet.default().evaluate(sim.cohort)
    t = sim.truth
    # a rule that fires never masks a drug that is not truly contraindicated; the other masked
    # cells are pending data (a contraindicating rule whose input is not recorded)
    assert not (mask.contraindicated & ~t.contraindicated).any()
    assert (~mask.allowed == (mask.contraindicated | mask.pending)).all()
    no_genomics = ~np.isin(mask.patient_ids, sim.cohort.genomics["patient_id"])
    assert mask.pending[no_genomics][:, list(mask.drugs).index("abacavir")].all()
    # an efficacy-greedy policy, unmasked and masked
    free = masked_greedy(t.efficacy_mean, np.ones_like(mask.allowed))
    safe = masked_greedy(t.efficacy_mean, mask.allowed)
    assert (safe * ~mask.allowed).sum() == 0
    assert (free * ~mask.allowed).sum() > 50
    # lower true adverse-event rate (value of outcome "adverse" is minus the rate)
    rate_free = -sim.true_policy_value(free, outcome="adverse")
    rate_safe = -sim.true_policy_value(safe, outcome="adverse")
    assert rate_safe < rate_free - 0.005


def test_constraint_report_on_logged_clinicians():
    sim = simulate_cohort(n=5000, n_drugs=10, random_state=4, ecg=False)
    mask = RuleSet.default().evaluate(sim.cohort)
    fb = sim.bandit_feedback()
    fired = audit(fb, ~mask.contraindicated)  # logged decisions that a rule that fired forbids
    assert 0 < fired.rate < 0.05
    logged = audit(fb, mask.allowed)  # ... and those whose contraindicating rule could not be decided
    assert logged.n_masked > fired.n_masked
    q = RewardModel(random_state=0).fit_predict(fb)
    free = 0.7 * masked_greedy(sim.truth.efficacy_mean, np.ones_like(mask.allowed)) + 0.03
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OverlapWarning)
        report = constraint_report(fb, mask, free, q)
    assert report.n_logged_masked == logged.n_masked
    assert report.by_rule["logged_violations"].sum() >= logged.n_masked
    from causalrx.safety import restrict

    true_diff = sim.true_policy_value(restrict(free, mask.allowed, fallback=mask.drugs.index(mask.reference))) - sim.true_policy_value(free)
    d, lo, hi = report.difference
    assert lo <= true_diff <= hi
    assert d == pytest.approx(report.constrained.value - report.unconstrained.value)
