"""Offline RL under the mask: masked actions never chosen nor backed up; CQL beats behaviour cloning."""

import dataclasses

import numpy as np
import pytest

from causalrx.data.feedback import Trajectories
from causalrx.data.simulate import simulate_cohort
from causalrx.exceptions import ValidationError
from causalrx.policy import LoggedPolicy, OfflineRLPolicy
from causalrx.safety import RuleSet


def two_step(n=600, seed=0):
    """Action 1 pays 1, action 0 pays 0, at both of two steps; observation = [step, noise]."""
    rng = np.random.default_rng(seed)
    action = rng.integers(0, 2, 2 * n)
    obs = np.column_stack([np.tile([0.0, 1.0], n), rng.normal(size=2 * n)])
    return Trajectories(observations=obs, action=action, reward=action.astype(float), episode_id=np.repeat(np.arange(n), 2),
                        step=np.tile([0, 1], n), action_names=("a0", "a1"), pscore=np.full(2 * n, 0.5))  # fmt: skip


@pytest.mark.parametrize("algorithm", ["nfq", "dqn", "cql", "bcq"])
def test_mask_enters_the_bellman_target_and_the_choice(algorithm, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    traj = two_step()
    mask = np.ones((traj.n_steps, 2), bool)
    mask[traj.step == 1, 1] = False  # the paying action is forbidden at the second step
    policy = OfflineRLPolicy(algorithm=algorithm, n_steps=600, batch_size=128, target_update_interval=50, conservative_weight=0.1,
                             device="cpu", random_state=0).fit(traj, mask=mask)  # fmt: skip
    q = policy.q_values(traj.observations, mask)
    first = traj.step == 0
    # unmasked, Q(step 0, a1) would be 1 + 1 = 2; with the mask the best allowed next value is 0
    assert abs(q[first, 1].mean() - 1.0) < 0.3
    chosen = policy.predict(traj.observations, mask)
    assert (chosen[~first] == 0).all() and (chosen[first] == 1).mean() > 0.95
    assert not any(tmp_path.iterdir())  # no d3rlpy_logs


def test_a_critic_ensemble_keeps_the_masked_target(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    traj = two_step()
    mask = np.ones((traj.n_steps, 2), bool)
    mask[traj.step == 1, 1] = False
    policy = OfflineRLPolicy(algorithm="nfq", n_critics=3, n_steps=600, batch_size=128, device="cpu", random_state=0).fit(traj, mask=mask)
    assert len(policy.algo_.impl._q_func_forwarder._forwarders) == 3
    q = policy.q_values(traj.observations, mask)
    assert abs(q[traj.step == 0, 1].mean() - 1.0) < 0.3  # not 2: the ensemble's target still skips the forbidden drug


@pytest.mark.parametrize("algorithm", ["dqn", "cql"])
def test_mask_as_input_only_backs_up_the_forbidden_drug_but_never_chooses_it(algorithm, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    traj = two_step()
    mask = np.ones((traj.n_steps, 2), bool)
    mask[traj.step == 1, 1] = False
    policy = OfflineRLPolicy(algorithm=algorithm, n_steps=600, batch_size=128, target_update_interval=50, conservative_weight=0.1,
                             masked_target=False, device="cpu", random_state=0).fit(traj, mask=mask)  # fmt: skip
    q = policy.q_values(traj.observations, mask)
    first = traj.step == 0
    # the target takes the forbidden paying drug at the second visit: Q(step 0, a1) = 1 + 1
    assert abs(q[first, 1].mean() - 2.0) < 0.4
    assert (policy.predict(traj.observations, mask)[~first] == 0).all()


@pytest.fixture(scope="module")
def episodes():
    sim = simulate_cohort(n=1200, n_drugs=4, random_state=1, ecg=False, horizon=4)
    table = sim.cohort.feature_table()
    keep = [not ("snp" in c or c.startswith(("proteomics.P", "genomics.CYP2C19_dip"))) for c in table.columns]
    context = sim.default_context()[:, np.r_[keep, True]]
    mask = RuleSet.default().evaluate(sim.cohort).allowed
    traj = dataclasses.replace(sim.trajectories(context), mask=np.repeat(mask, 4, axis=0))
    return sim, context, mask, traj


def test_cql_beats_behaviour_cloning_in_true_value(episodes, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sim, context, mask, traj = episodes
    bc = LoggedPolicy().fit(traj.observations, traj.action, n_actions=traj.n_actions)
    cql = OfflineRLPolicy(algorithm="cql", n_steps=1200, device="cpu", random_state=0).fit(traj)
    v_bc = sim.true_policy_value(sim.observation_policy(bc, context, mask))
    v_cql = sim.true_policy_value(sim.observation_policy(cql, context, mask))
    assert v_cql > v_bc + 0.2
    dist = cql.action_dist(traj.observations, traj.mask)
    assert np.all(dist[~traj.mask] == 0)
    loaded = OfflineRLPolicy.load(cql.save(tmp_path / "cql.pkl"))
    np.testing.assert_array_equal(loaded.predict(traj.observations[:200], traj.mask[:200]), cql.predict(traj.observations[:200], traj.mask[:200]))


def test_errors():
    with pytest.raises(ValidationError, match="algorithm"):
        OfflineRLPolicy(algorithm="ppo", n_steps=1).fit(two_step(20))
    with pytest.raises(ValidationError, match="Trajectories"):
        OfflineRLPolicy().fit(np.zeros((3, 2)))
    with pytest.raises(ValidationError, match="call fit"):
        OfflineRLPolicy().predict(np.zeros((3, 2)))
    with pytest.raises(ValidationError, match="n_critics: expected a positive integer, got 0"):
        OfflineRLPolicy(n_critics=0, n_steps=1).fit(two_step(20))


def test_d3rlpy_is_imported_without_gyms_notice():
    import subprocess
    import sys

    def stderr_of(code):
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr

    notice = "Gym has been unmaintained"
    if notice not in stderr_of("import d3rlpy"):
        pytest.skip("this gym prints no notice on import")
    quiet = stderr_of("import sys; from causalrx.policy.offline_rl import import_d3rlpy; "
                      "d = import_d3rlpy(); sys.stderr.write('kept'); assert 'gym' in sys.modules and d.__version__")  # fmt: skip
    assert notice not in quiet and quiet.endswith("kept")
