"""One execution backend: identical numbers from serial, joblib and Ray; failures named; no Ray left behind."""

import subprocess

import numpy as np
import pandas as pd
import pytest

from causalrx.exceptions import ValidationError
from causalrx.execution import TaskError, run_inner, run_tasks, task_seed, using


def replication(seed: int, n: int, scale: float = 1.0, weights=None):
    """One replication of a small study: the AIPW ATEs (cross-fitted) of a simulated cohort."""
    from causalrx.data.simulate import simulate_cohort
    from causalrx.effects import AIPW, cohort_inputs
    from causalrx.report.representation import raw_covariates

    sim = simulate_cohort(n=n, n_drugs=3, random_state=seed, ecg=False)
    _, action, y, names = cohort_inputs(sim.cohort, "efficacy")
    ate = AIPW(n_folds=2, random_state=seed).fit(raw_covariates(sim.cohort), action, y, action_names=names).ate_
    return scale * ate + (0.0 if weights is None else float(np.sum(weights)))


def fails_on_three(i: int):
    if i == 3:
        raise ValueError("no third replication")
    return i


def tasks(n_tasks=4):
    return [(f"rep{i}", {"seed": task_seed(7, f"rep{i}"), "n": 300}) for i in range(n_tasks)]


def _ray_processes() -> int:
    out = subprocess.run(["pgrep", "-f", "raylet|gcs_server"], capture_output=True, text=True)
    return len(out.stdout.split())


def test_seeds_come_from_keys_not_positions():
    assert task_seed(7, "rep1") == task_seed(7, "rep1") != task_seed(7, "rep2") != task_seed(8, "rep2")
    assert 0 <= task_seed(None, ("a", 1)) < 2**32


def test_serial_and_joblib_give_identical_numbers_and_order():
    serial = run_tasks(replication, tasks(), backend="serial")
    local = run_tasks(replication, tasks(), backend="joblib", n_jobs=2)
    reversed_ = run_tasks(replication, tasks()[::-1], backend="joblib", n_jobs=2)[::-1]  # order and workers do not matter
    np.testing.assert_array_equal(np.array(serial), np.array(local))
    np.testing.assert_array_equal(np.array(serial), np.array(reversed_))
    seen = {}
    shared = run_tasks(replication, tasks(2), backend="joblib", n_jobs=2, shared={"scale": 2.0, "weights": np.ones(10)},
                       on_result=seen.__setitem__)  # fmt: skip
    assert sorted(seen) == ["rep0", "rep1"] and np.array_equal(seen["rep1"], shared[1])  # each result as it finishes
    np.testing.assert_allclose(np.array(shared), 2 * np.array(serial[:2]) + 10)


@pytest.mark.parametrize("backend", ["serial", "joblib"])
def test_a_failing_task_is_named(backend):
    with pytest.raises(TaskError, match=r"task 'rep3' failed: ValueError: no third replication") as err:
        run_tasks(fails_on_three, [(f"rep{i}", {"i": i}) for i in range(5)], backend=backend, n_jobs=2)
    assert err.value.key == "rep3"


def test_bad_settings_are_named(monkeypatch):
    with pytest.raises(ValidationError, match="backend: expected one of"):
        run_tasks(fails_on_three, [], backend="dask")
    with pytest.raises(ValidationError, match="distinct key"):
        run_tasks(fails_on_three, [("a", {"i": 1}), ("a", {"i": 2})], backend="serial")
    with pytest.raises(ValidationError, match="only the ray backend"):
        run_tasks(fails_on_three, [("a", {"i": 1})], backend="joblib", address="auto")
    monkeypatch.setenv("CAUSALRX_BACKEND", "serial")
    assert run_tasks(fails_on_three, [("a", {"i": 1})]) == [1]


def cross_fitted_numbers():
    """Cross-fitted quantities whose folds, candidates and refits go through run_inner."""
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from causalrx.data.simulate import simulate_cohort
    from causalrx.effects import AIPW, CateSelector, cohort_inputs
    from causalrx.effects.learners import MetaLearner
    from causalrx.report.representation import raw_covariates

    sim = simulate_cohort(n=300, n_drugs=3, random_state=3, ecg=False)
    _, action, y, names = cohort_inputs(sim.cohort, "efficacy")
    X = raw_covariates(sim.cohort)
    aipw = AIPW(n_folds=3, random_state=1).fit(X, action, y, action_names=names)
    ridge = make_pipeline(StandardScaler(), Ridge(alpha=10.0))  # cheap models: the folds' numbers, not their accuracy, are compared
    candidates = {"T": MetaLearner(kind="T", model=ridge, random_state=1),
                  "S": MetaLearner(kind="S", model=ridge, baseline=ridge, random_state=1)}  # centred: PlugInBaseline's folds  # fmt: skip
    selector = CateSelector(candidates=candidates, n_folds=2, random_state=1).fit(X, action, y, action_names=names)
    return np.r_[aipw.ate_, aipw.se_, selector.scores_["dr_loss"], selector.effect(X[:50]).ite.ravel()]


def pid_of_inner_folds(i: int):
    import os

    return os.getpid(), run_inner(lambda: os.getpid(), [(f, {}) for f in range(3)])


def fails_in_a_fold(i: int):
    if i == 1:
        raise ValidationError("fold 1 refuses")
    return i


def test_inner_loops_give_the_same_numbers_on_every_backend_and_never_nest():
    serial = cross_fitted_numbers()
    with using("joblib", n_jobs=2) as backend:
        assert backend == "joblib"
        local = cross_fitted_numbers()
        # inside a task, an estimator's own folds run in that task's process: pools never nest
        for pid, inner in run_tasks(pid_of_inner_folds, [(i, {"i": i}) for i in range(2)]):
            assert inner == [pid] * 3
        # the inner loops raise the fold's own error, not a TaskError
        with pytest.raises(ValidationError, match="fold 1 refuses"):
            run_inner(fails_in_a_fold, [(i, {"i": i}) for i in range(3)])
    # equal up to rounding: a worker's BLAS runs on one thread, which changes the order of its sums
    np.testing.assert_allclose(local, serial, rtol=1e-11, atol=1e-12)


def test_ray_gives_the_same_numbers_names_failures_and_leaves_nothing_behind():
    ray = pytest.importorskip("ray")
    before = _ray_processes()
    serial = run_tasks(replication, tasks(), backend="serial")
    folds_serial = cross_fitted_numbers()
    with using("ray", n_jobs=2):  # one local Ray for the block
        on_ray = run_tasks(replication, tasks(), shared={"scale": 1.0, "weights": np.zeros(1000)})
        folds_on_ray = cross_fitted_numbers()
        with pytest.raises(TaskError, match=r"task 'rep3' failed: ValueError: no third replication"):
            run_tasks(fails_on_three, [(f"rep{i}", {"i": i}) for i in range(5)], retries=0)
        assert ray.is_initialized()
    np.testing.assert_array_equal(np.array(serial), np.array(on_ray))
    np.testing.assert_allclose(folds_on_ray, folds_serial, rtol=1e-11, atol=1e-12)
    assert not ray.is_initialized() and _ray_processes() <= before


def test_a_simulation_study_scores_estimators_against_the_truth_on_any_backend():
    from causalrx.study import simulation_study, summarise_study

    settings = {"randomised": {"n": 600, "n_drugs": 3, "confounding": 0.0}, "confounded": {"n": 600, "n_drugs": 3, "confounding": 1.0}}
    serial = simulation_study(settings, range(3), estimators=["ipw", "aipw"], backend="serial")
    local = simulation_study(settings, range(3), estimators=["ipw", "aipw"], backend="joblib", n_jobs=2)
    pd.testing.assert_frame_equal(serial, local)
    assert len(serial) == 2 * 3 * 2 * 2 and set(serial["replication"]) == {0, 1, 2}
    summary = summarise_study(serial).set_index(["setting", "estimator", "drug"])
    # by hand: bias is the mean error against the stated ATE, RMSE its root mean square
    part = serial[(serial["setting"] == "confounded") & (serial["estimator"] == "aipw") & (serial["drug"] == "clopidogrel")]
    err = part["estimate"] - part["true_ate"]
    assert summary.loc[("confounded", "aipw", "clopidogrel"), "bias"] == pytest.approx(err.mean())
    assert summary.loc[("confounded", "aipw", "clopidogrel"), "rmse"] == pytest.approx(np.sqrt(np.mean(err**2)))
    assert summary["coverage"].between(0, 1).all() and (summary["mean_width"] > 0).all()
    with pytest.raises(ValidationError, match="estimators: expected some of"):
        simulation_study(settings, range(1), estimators=["bart"])


def test_study_command(tmp_path):
    from typer.testing import CliRunner

    from causalrx.cli import app

    out = tmp_path / "study.csv"
    result = CliRunner().invoke(app, ["study", "--out", str(out), "--n", "400", "--drugs", "3", "--seeds", "2", "--estimator", "aipw",
                                      "--confounding", "0", "--confounding", "1", "--backend", "serial"])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(tmp_path / "study_summary.csv")
    assert set(summary["setting"]) == {"confounding=0", "confounding=1"} and (summary["replications"] == 2).all()
