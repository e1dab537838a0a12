"""Sequential estimators: hand-computed values, unbiasedness with true propensities, FQE accuracy."""

import warnings

import numpy as np
import pytest

from causalrx.data.feedback import Trajectories
from causalrx.exceptions import ValidationError
from causalrx.ope.fqe import FQE
from causalrx.ope.inference import Bootstrap
from causalrx.ope.sequential import PDIS, WDR, WPDIS, SequentialDR, estimate_sequential, prepare_sequential
from tests.ope.toy_mdp import P_FOLLOW, simulate, step_reward, target_dist, true_value

BEHAVIOUR, TARGET = np.array([0.5, 0.5]), np.array([0.2, 0.9])


def tiny():
    """Two episodes of two steps; target puts 0.8 on action 1 everywhere."""
    traj = Trajectories(
        observations=np.zeros((4, 1)), action=np.array([1, 0, 1, 1]), reward=np.array([1.0, 2.0, 0.0, 3.0]),
        episode_id=np.array([0, 0, 1, 1]), step=np.array([0, 1, 0, 1]), action_names=("a0", "a1"),
        pscore=np.array([0.5, 0.4, 0.5, 0.8]),
    )  # fmt: skip
    dist = np.tile([0.2, 0.8], (4, 1))
    q = np.array([[0.0, 1.0], [1.0, 2.0], [0.5, 0.5], [1.0, 3.0]])
    return traj, dist, q


def test_hand_computed_values():
    traj, dist, q = tiny()
    # weights: episode 0: w0 = .8/.5 = 1.6, w1 = 1.6 * .2/.4 = .8; episode 1: w0 = 1.6, w1 = 1.6 * .8/.8 = 1.6
    pdis = ((1.6 * 1 + 0.8 * 2) + (1.6 * 0 + 1.6 * 3)) / 2
    wpdis = (1.6 * 1 + 1.6 * 0) / 3.2 + (0.8 * 2 + 1.6 * 3) / 2.4
    v = (dist * q).sum(axis=1)  # V(s_t) = .8 * Q(s, 1) + .2 * Q(s, 0)
    dr0 = 1.6 * (1 - q[0, 1]) + v[0] + 0.8 * (2 - q[1, 0]) + 1.6 * v[1]
    dr1 = 1.6 * (0 - q[2, 1]) + v[2] + 1.6 * (3 - q[3, 1]) + 1.6 * v[3]
    wdr = (1.6 * (1 - q[0, 1]) + 1.6 * (0 - q[2, 1])) / 3.2 + (v[0] + v[2]) / 2 \
        + (0.8 * (2 - q[1, 0]) + 1.6 * (3 - q[3, 1])) / 2.4 + (1.6 * v[1] + 1.6 * v[3]) / 3.2
    got = {r.estimator: r.value for r in estimate_sequential(traj, dist, q, inference=Bootstrap(n_bootstrap=50, random_state=0))}
    assert got == pytest.approx({"PDIS": pdis, "WPDIS": wpdis, "SequentialDR": (dr0 + dr1) / 2, "WDR": wdr})


def test_variable_length_episodes_carry_their_last_weight():
    """Episode 0 has one step, episode 1 three: after its end episode 0 stays in an absorbing
    state with reward 0 and ratio 1, so its weight counts in the later normalisers."""
    traj = Trajectories(
        observations=np.zeros((4, 1)), action=np.array([1, 1, 0, 1]), reward=np.array([2.0, 1.0, 1.0, 4.0]),
        episode_id=np.array([0, 1, 1, 1]), step=np.array([0, 0, 1, 2]), action_names=("a0", "a1"),
        pscore=np.array([0.5, 0.5, 0.5, 0.8]),
    )  # fmt: skip
    dist = np.tile([0.2, 0.8], (4, 1))
    q = np.array([[0.5, 1.5], [0.0, 1.0], [1.0, 2.0], [2.0, 3.0]])
    # weights: episode 0: 1.6 (then carried: 1.6, 1.6); episode 1: 1.6, 1.6 * .2/.5 = .64, .64 * .8/.8 = .64
    w0, w1 = np.array([1.6, 1.6, 1.6]), np.array([1.6, 0.64, 0.64])
    r0, r1 = np.array([2.0, 0, 0]), np.array([1.0, 1.0, 4.0])
    pdis = ((w0 * r0).sum() + (w1 * r1).sum()) / 2
    wpdis = sum((w0[t] * r0[t] + w1[t] * r1[t]) / (w0[t] + w1[t]) for t in range(3))
    v = (dist * q).sum(axis=1)
    ql0, ql1 = np.array([q[0, 1], 0, 0]), np.array([q[1, 1], q[2, 0], q[3, 1]])
    v0, v1 = np.array([v[0], 0, 0]), v[1:]
    wp0, wp1 = np.array([1.0, 1.6, 1.6]), np.array([1.0, 1.6, 0.64])
    dr = ((w0 * (r0 - ql0) + wp0 * v0).sum() + (w1 * (r1 - ql1) + wp1 * v1).sum()) / 2
    wdr = sum((w0[t] * (r0[t] - ql0[t]) + w1[t] * (r1[t] - ql1[t])) / (w0[t] + w1[t])
              + (wp0[t] * v0[t] + wp1[t] * v1[t]) / (wp0[t] + wp1[t]) for t in range(3))  # fmt: skip
    got = {r.estimator: r.value for r in estimate_sequential(traj, dist, q, inference=Bootstrap(n_bootstrap=50, random_state=0))}
    assert got == pytest.approx({"PDIS": pdis, "WPDIS": wpdis, "SequentialDR": dr, "WDR": wdr})


def test_on_policy_variable_length_returns_the_mean_return():
    """Logged by the target policy itself: every weight is 1, so WPDIS is the mean return, and so are the
    DR estimators with a Q-model that does not depend on the action (V = Q of the logged drug)."""
    traj = Trajectories(
        observations=np.zeros((6, 1)), action=np.zeros(6, dtype=int), reward=np.array([1.0, 2.0, 3.0, 4.0, 0.0, 1.0]),
        episode_id=np.array([0, 0, 0, 1, 2, 2]), step=np.array([0, 1, 2, 0, 0, 1]), action_names=("a0", "a1"),
        pscore=np.full(6, 0.5),
    )  # fmt: skip
    dist = np.tile([0.5, 0.5], (6, 1))
    q = np.repeat(np.random.default_rng(0).normal(size=(6, 1)), 2, axis=1)
    got = {r.estimator: r.value for r in estimate_sequential(traj, dist, q, inference=Bootstrap(n_bootstrap=50, random_state=0))}
    mean_return = (6.0 + 4.0 + 1.0) / 3
    assert got == pytest.approx({"PDIS": mean_return, "WPDIS": mean_return, "SequentialDR": mean_return, "WDR": mean_return})


def test_discounting():
    traj, dist, _ = tiny()
    value = PDIS(gamma=0.5).estimate(traj, dist, inference=Bootstrap(n_bootstrap=50)).value
    assert value == pytest.approx(((1.6 + 0.5 * 0.8 * 2) + 0.5 * 1.6 * 3) / 2)


def test_pdis_with_true_propensities_is_unbiased_over_seeds():
    horizon, truth = 3, true_value(TARGET, 3)
    estimates = []
    for seed in range(200):
        traj = simulate(200, horizon, BEHAVIOUR, np.random.default_rng(seed))
        columns, _ = PDIS().columns(prepare_sequential(traj, target_dist(traj, TARGET)))
        estimates.append(columns.mean())
    estimates = np.array(estimates)
    se = estimates.std(ddof=1) / np.sqrt(len(estimates))
    assert abs(estimates.mean() - truth) < 3 * se
    assert se < 0.05  # the check has power


def test_intervals_cover_and_dr_is_tighter_than_pdis():
    horizon, truth = 3, true_value(TARGET, 3)
    traj = simulate(2000, horizon, BEHAVIOUR, np.random.default_rng(7))
    dist = target_dist(traj, TARGET)
    # an exact Q of the target (by dynamic programming) makes DR a control-variate version of PDIS
    q_exact = np.zeros((traj.n_steps, 2))
    for t in range(horizon):
        rest = horizon - t - 1
        for s in range(2):
            for a in range(2):
                q_exact[(traj.observations[:, 0] == t) & (traj.observations[:, 1] == s), a] = _q(s, a, rest)
    results = {r.estimator: r for r in estimate_sequential(traj, dist, q_exact, inference=Bootstrap(n_bootstrap=400, random_state=0))}
    for r in results.values():
        assert r.lower <= truth <= r.upper, r
    assert results["SequentialDR"].std_error < 0.5 * results["PDIS"].std_error
    assert results["PDIS"].diagnostics.ess < traj.n_episodes


def _q(s, a, rest):
    v = np.zeros(2)
    for _ in range(rest):
        qq = np.array([[step_reward(np.array(x), np.array(b)) + (P_FOLLOW * np.eye(2)[b] + (1 - P_FOLLOW) * 0.5) @ v
                        for b in range(2)] for x in range(2)])  # fmt: skip
        v = (1 - TARGET) * qq[:, 0] + TARGET * qq[:, 1]
    return float(step_reward(np.array(s), np.array(a)) + (P_FOLLOW * np.eye(2)[a] + (1 - P_FOLLOW) * 0.5) @ v)


def test_fqe_is_within_10_percent_of_the_true_value(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    horizon, truth = 3, true_value(TARGET, 3)
    traj = simulate(1000, horizon, BEHAVIOUR, np.random.default_rng(3))
    result = FQE(n_steps=1500, n_refits=0, random_state=0, device="cpu").estimate(traj, target_dist(traj, TARGET))
    assert abs(result.value - truth) / truth < 0.10
    assert result.lower <= result.value <= result.upper
    assert not any(tmp_path.iterdir())  # no d3rlpy_logs written


def test_errors_are_named():
    traj, dist, q = tiny()
    with pytest.raises(ValidationError, match="q_values"):
        SequentialDR().estimate(traj, dist)
    with pytest.raises(ValidationError, match="gamma"):
        WPDIS(gamma=0.0).estimate(traj, dist)
    masked = Trajectories(observations=traj.observations, action=traj.action, reward=traj.reward, episode_id=traj.episode_id,
                          step=traj.step, action_names=traj.action_names, pscore=traj.pscore,
                          mask=np.array([[True, False]] * 4))  # fmt: skip
    with pytest.raises(ValidationError, match="masked"):
        WDR().estimate(masked, dist, q)
    audited = PDIS().estimate(masked, dist, allow_mask_violation=True, inference=Bootstrap(n_bootstrap=20))
    assert audited.diagnostics.mask_violation_rate == 1.0


def test_estimated_propensities_use_episode_folds():
    """Each episode's covariates are its own (identical at every step) and its drug never changes: a
    1-nearest-neighbour propensity model fitted on row folds would find a sibling step of the
    same episode and give the logged drug probability ~1; episode folds never see the episode."""
    from sklearn.neighbors import KNeighborsClassifier

    from causalrx.effects.crossfit import make_group_folds
    from causalrx.effects.propensity import PropensityModel

    rng = np.random.default_rng(0)
    n_episodes, T = 200, 3
    x = np.repeat(rng.normal(size=(n_episodes, 2)), T, axis=0)
    action = np.repeat(rng.integers(0, 2, n_episodes), T)
    episode = np.repeat(np.arange(n_episodes), T)
    for train, test in make_group_folds(episode, 5, random_state=0):
        assert not set(episode[train]) & set(episode[test])
    model = PropensityModel(classifier=KNeighborsClassifier(1), calibration=None, random_state=0)
    rows = model.fit_predict(x, action, 2)[np.arange(len(action)), action]
    grouped = model.fit_predict(x, action, 2, groups=episode)[np.arange(len(action)), action]
    assert rows.mean() > 0.95  # the leak the episode folds prevent
    assert 0.35 < grouped.mean() < 0.65  # chance: the drug is random across episodes
    traj = Trajectories(observations=x, action=action, reward=rng.normal(size=len(action)), episode_id=episode,
                        step=np.tile(np.arange(T), n_episodes), action_names=("a0", "a1"))  # fmt: skip
    m = prepare_sequential(traj, np.tile([0.5, 0.5], (len(action), 1)))
    assert m.propensity_source == "estimated"
    expected = PropensityModel(random_state=0).fit_predict(x, action, 2, groups=episode)[np.arange(len(action)), action]
    np.testing.assert_allclose(m.weight[:, 0], 0.5 / expected[traj.episode_starts])
    with pytest.raises(ValidationError, match="groups"):
        model.fit_predict(x, action, 2, groups=episode[:-1])


def test_cross_fitted_q_values_never_see_the_episode_they_score(tmp_path, monkeypatch):
    """Shifting the rewards of one fold's episodes changes the Q-values of the other fold (its
    models learned from them) and leaves that fold's own Q-values exactly as they were."""
    from causalrx.effects.crossfit import make_group_folds

    monkeypatch.chdir(tmp_path)
    traj = simulate(300, 3, BEHAVIOUR, np.random.default_rng(4))
    dist = target_dist(traj, TARGET)
    fqe = FQE(n_steps=300, random_state=0, device="cpu")
    q = fqe.cross_fit_q_values(traj, dist)
    (_, held), (_, other) = make_group_folds(traj.episode_index, 2, random_state=0)
    shifted = Trajectories(observations=traj.observations, action=traj.action, reward=np.where(np.isin(np.arange(traj.n_steps), held),
                           traj.reward + 10.0, traj.reward), episode_id=traj.episode_id, step=traj.step,
                           action_names=traj.action_names, pscore=traj.pscore)  # fmt: skip
    q_shifted = fqe.cross_fit_q_values(shifted, dist)
    np.testing.assert_allclose(q_shifted[held], q[held], rtol=1e-5, atol=1e-5)
    assert (q_shifted[other] - q[other]).mean() > 5  # learned from the shifted episodes
    truth = true_value(TARGET, 3)
    dr = SequentialDR().estimate(traj, dist, q, inference=Bootstrap(n_bootstrap=200, random_state=0))
    assert abs(dr.value - truth) / truth < 0.10 and dr.lower < dr.value < dr.upper
    fqe_value = FQE(n_steps=300, n_refits=0, random_state=0, device="cpu").estimate(traj, dist)
    assert np.isnan(fqe_value.diagnostics.ess) and np.isnan(fqe_value.diagnostics.max_weight)  # no weights, none shown
    with pytest.raises(ValidationError, match="n_folds"):
        fqe.cross_fit_q_values(traj, dist, n_folds=1)


def test_fqe_refit_interval_includes_the_q_models_error(tmp_path, monkeypatch):
    """The default interval comes from refits on bootstrap resamples of episodes: wider than the bootstrap of
    V(s0) alone (which leaves the Q-model's error out), centred on the estimate, and it holds the true value."""
    monkeypatch.chdir(tmp_path)
    traj = simulate(300, 3, BEHAVIOUR, np.random.default_rng(5))
    dist = target_dist(traj, TARGET)
    refit = FQE(n_steps=400, n_refits=8, random_state=0, device="cpu").estimate(traj, dist)
    only_v0 = FQE(n_steps=400, n_refits=0, random_state=0, device="cpu").estimate(traj, dist)
    assert refit.value == pytest.approx(only_v0.value)  # the same full-data fit
    assert "Q-model error included" in refit.interval and "not included" in only_v0.interval
    assert refit.upper - refit.lower > only_v0.upper - only_v0.lower
    assert refit.value - refit.lower == pytest.approx(refit.upper - refit.value)
    assert refit.lower <= true_value(TARGET, 3) <= refit.upper
    with pytest.raises(ValidationError, match="n_refits"):
        FQE(n_steps=50, n_refits=1, device="cpu").estimate(traj, dist)


def test_a_column_constant_in_the_training_episodes_keeps_out_of_fold_q_values_finite(tmp_path, monkeypatch):
    """A flag seen in one episode only is constant in the other fold's training episodes: standardising it by its
    standard deviation (~0) would turn the held-out episode's value into ~1e8 and its Q-values into nonsense."""
    from causalrx.policy.offline_rl import standardisation

    monkeypatch.chdir(tmp_path)
    traj = simulate(200, 3, BEHAVIOUR, np.random.default_rng(6))
    flag = (traj.episode_index == 7).astype(float)[:, None]
    flagged = Trajectories(observations=np.hstack([traj.observations, flag]), action=traj.action, reward=traj.reward,
                           episode_id=traj.episode_id, step=traj.step, action_names=traj.action_names, pscore=traj.pscore)  # fmt: skip
    q = FQE(n_steps=200, random_state=0, device="cpu").cross_fit_q_values(flagged, target_dist(flagged, TARGET))
    assert np.isfinite(q).all() and np.abs(q).max() < 20  # returns of 3 visits are about 0-6
    mean, scale = standardisation(np.array([[1.0, 5.0], [3.0, 5.0]]))
    np.testing.assert_allclose(mean, [2.0, 5.0])
    np.testing.assert_allclose(scale, [1.0, 1.0])  # std 1 for the first column; the constant one keeps 1


def test_fqe_warns_when_its_value_is_still_moving_at_the_end_of_the_fit(tmp_path, monkeypatch):
    from causalrx.ope.fqe import NotConvergedWarning
    from tests.policy.test_offline_rl import two_step

    monkeypatch.chdir(tmp_path)
    traj = two_step(300)
    always_a1 = np.tile([0.0, 1.0], (traj.n_steps, 1))  # true value 2
    with pytest.warns(NotConvergedWarning, match="still moved by .* over the last fifth of the 30 steps"):
        short = FQE(n_steps=30, n_refits=0, device="cpu", random_state=0).estimate(traj, always_a1)
    assert short.value < 1.5 and [w.metric for w in short.diagnostics.warnings] == ["value_change_last_fifth"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", NotConvergedWarning)
        fqe = FQE(n_steps=400, n_refits=0, device="cpu", random_state=0)
        enough = fqe.estimate(traj, always_a1)
    assert abs(enough.value - 2.0) < 0.05 and enough.diagnostics.warnings == ()
    assert len(fqe.value_trace_) == 10 and fqe.value_trace_[-1][0] == 400
