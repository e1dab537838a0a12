"""CPUs the process may use: affinity capped by the cgroup quota; torch threads never above them."""

import os

import pytest

from causalrx import parallel


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
