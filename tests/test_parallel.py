"""CPUs the process may use: affinity capped by the cgroup quota; torch threads never above them."""

import os

import pytest

from causalrx import parallel
from causalrx.exceptions import ValidationError


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000"}, 0.5),
        ({"cpu,cpuacct/cpu.cfs_quota_us": "-1", "cpu,cpuacct/cpu.cfs_period_us": "100000"}, None),
        ({"cpu.max": "garbage"}, None),
        ({}, None),
    ],
)
def test_cgroup_cpu_limit(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert parallel.cgroup_cpu_limit(tmp_path) == expected


def test_available_cpus_is_capped_by_the_quota(tmp_path, monkeypatch):
    affinity = len(os.sched_getaffinity(0))
    monkeypatch.setattr(parallel, "CGROUP_ROOT", tmp_path)
    assert parallel.available_cpus() == affinity  # no quota file: the affinity
    (tmp_path / "cpu.max").write_text("50000 100000")
    assert parallel.available_cpus() == 1  # half a CPU rounds up to one
    (tmp_path / "cpu.max").write_text(f"{100000 * (affinity + 8)} 100000")
    assert parallel.available_cpus() == affinity  # a quota above the affinity does not raise it
    assert parallel.resolve_n_jobs(None) == affinity



def test_causalrx_cpus_caps_the_pools_and_refuses_odd_values(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "CGROUP_ROOT", tmp_path)
    monkeypatch.setenv("CAUSALRX_CPUS", "1")
    assert parallel.available_cpus() == 1 and parallel.resolve_n_jobs(None) == 1
    monkeypatch.setenv("CAUSALRX_CPUS", str(len(os.sched_getaffinity(0)) + 5))
    assert parallel.available_cpus() == len(os.sched_getaffinity(0))  # a cap never raises the count
    for odd in ("0", "two", "1.5", "-1"):
        monkeypatch.setenv("CAUSALRX_CPUS", odd)
        with pytest.raises(ValidationError, match="CAUSALRX_CPUS"):
            parallel.available_cpus()


def test_torch_threads_are_lowered_never_raised(tmp_path, monkeypatch):
    import torch

    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(parallel, "CGROUP_ROOT", tmp_path)
        (tmp_path / "cpu.max").write_text("100000 100000")  # one CPU
        torch.set_num_threads(4)
        assert parallel.limit_torch_threads() == 1 and torch.get_num_threads() == 1
        (tmp_path / "cpu.max").write_text("max 100000")
        assert parallel.limit_torch_threads() == 1  # a pool's single-threaded worker stays single-threaded
        from causalrx.encoders.training import resolve_device

        torch.set_num_threads(64)
        (tmp_path / "cpu.max").write_text("200000 100000")
        resolve_device("cpu")  # every torch fit goes through it
        assert torch.get_num_threads() == min(2, len(os.sched_getaffinity(0)))
    finally:
        torch.set_num_threads(before)


def test_blas_and_openmp_pools_are_lowered_to_the_quota(tmp_path, monkeypatch):
    import numpy  # noqa: F401  (loads BLAS)
    from threadpoolctl import threadpool_info, threadpool_limits

    before = {pool["user_api"]: pool["num_threads"] for pool in threadpool_info()}
    try:
        monkeypatch.setattr(parallel, "CGROUP_ROOT", tmp_path)
        (tmp_path / "cpu.max").write_text("100000 100000")
        assert parallel.limit_threads() == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    finally:
        threadpool_limits(limits=before)


def test_small_networks_train_on_one_thread_and_the_count_is_restored(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(parallel, "CGROUP_ROOT", tmp_path)
    (tmp_path / "cpu.max").write_text("400000 100000")  # four CPUs at most
    cpus = min(4, len(os.sched_getaffinity(0)))
    assert parallel.small_network_threads((64, 64), 256) == 1
    assert parallel.small_network_threads((1024,), 1024) == cpus  # a big layer: every CPU available
    before = torch.get_num_threads()
    with parallel.torch_threads(1) as inside:
        assert inside == torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with parallel.torch_threads(64) as inside:
        assert inside == min(64, cpus)  # never above the CPUs available
    assert torch.get_num_threads() == before


def test_offline_rl_and_fqe_fit_on_one_thread(tmp_path, monkeypatch):
    import numpy as np

    from causalrx.ope import fqe as fqe_module
    from causalrx.policy import offline_rl
    from tests.policy.test_offline_rl import two_step

    monkeypatch.chdir(tmp_path)
    seen = []
    real = parallel.torch_threads

    def spy(n):
        seen.append(n)
        return real(n)

    monkeypatch.setattr(offline_rl, "torch_threads", spy)
    monkeypatch.setattr(fqe_module, "torch_threads", spy)
    traj = two_step(50)
    offline_rl.OfflineRLPolicy(algorithm="nfq", n_steps=5, device="cpu", random_state=0).fit(traj)
    fqe_module.FQE(n_steps=5, n_refits=0, device="cpu", random_state=0).estimate(traj, np.full((traj.n_steps, 2), 0.5))
    assert seen == [1, 1]


def test_cpu_budget_caps_every_pool_and_restores_them():
    from threadpoolctl import threadpool_info

    before = parallel.available_cpus()
    with parallel.cpu_budget(1) as n:
        assert n == 1 and parallel.available_cpus() == 1 and parallel.resolve_n_jobs(None) == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    assert parallel.available_cpus() == before


def test_free_cpus_leaves_out_what_other_processes_keep_busy(monkeypatch):
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(parallel, "cgroup_cpu_limit", lambda: None)
    samples = iter([(100.0, 1000.0), (160.0, 1060.0)])  # both CPUs fully busy between the readings, this process idle
    monkeypatch.setattr(parallel, "_cpu_jiffies", lambda cpus: next(samples))
    assert parallel.others_busy_cpus(0.01) == 2.0
    samples = iter([(100.0, 1000.0), (160.0, 1060.0)])
    assert parallel.free_cpus(0.01) == 1  # never fewer than one
    samples = iter([(100.0, 1000.0), (100.0, 1060.0)])  # nothing busy
    assert parallel.free_cpus(0.01) == 2
