"""One convention for parallelism: how many CPUs this process may use, and what ``n_jobs`` means.

``n_jobs=None`` (the default everywhere) means every CPU the process may use: its CPU
affinity (``taskset``, cpusets, a scheduler's allocation) and its cgroup CPU quota (a
container limited to 2 CPUs on a 64-core host may use 2), not the machine's core count.
A positive integer is that many workers; ``-1`` is the same as ``None`` and ``-2`` one
fewer, as in joblib. Callers that already run in parallel pass ``n_jobs=1`` to what they
call, so pools are never nested.

Torch's intra-op threads and the BLAS/OpenMP pools default to the host's cores;
:func:`limit_threads` (called by every ``causalrx`` command and before every torch fit:
encoders, neural CATE learners, offline RL, FQE) lowers them to the CPUs available, and
never raises them, so a worker of a parallel pool (which joblib starts with one thread per
worker) stays single-threaded.

When other processes compete for the CPUs, OpenMP threads that busy-wait at every barrier
(libgomp's default, used by scikit-learn's histogram boosting and by torch) burn the time
slices the other threads need, and a run slows down far more than its share of the CPUs
(``benchmarks/bench_run.py --load 2``). :func:`short_openmp_spin` (called when ``causalrx`` is
imported, so before anything it imports loads OpenMP) caps the spinning at ``GOMP_SPINCOUNT=1000``
unless the environment sets ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY`` itself. It has no effect when
scikit-learn or torch were imported before causalrx; set the variable in the environment then.

A fork-join pool also stalls when one of its threads is descheduled, so a job that shares its
CPUs with other busy processes runs faster on fewer threads. ``causalrx run`` measures, before
each stage, how many CPUs other processes keep busy (:func:`free_cpus`, from ``/proc/stat``)
and runs the stage within that budget (:func:`cpu_budget`).

Small networks train on one thread (:func:`torch_threads` around the d3rlpy fits of offline
RL and FQE, :func:`small_network_threads`): a 64 x 64 MLP on batches of 256 gains nothing
from a second thread on an idle machine (500 NFQ steps 1.8 s on one thread, 2.0 s on two),
and when other processes compete for the cores torch's spinning threads slow it down
(16.8 s on two threads against 2.7 s on one; ``benchmarks/bench_threads.py``).
"""

from __future__ import annotations

import math
import numbers
import os
from contextlib import contextmanager
from pathlib import Path

from causalrx.exceptions import ValidationError


CGROUP_ROOT = Path("/sys/fs/cgroup")
OPENMP_SPIN = "1000"


def short_openmp_spin(environ=None) -> bool:
    """Set ``GOMP_SPINCOUNT`` to :data:`OPENMP_SPIN` unless ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY`` is
    set already; returns whether it set it. Only takes effect when called before OpenMP is loaded."""
    env = os.environ if environ is None else environ
    if "GOMP_SPINCOUNT" in env or "OMP_WAIT_POLICY" in env:
        return False
    env["GOMP_SPINCOUNT"] = OPENMP_SPIN
    return True


def cgroup_cpu_limit(root: Path | None = None) -> float | None:
    """The CPU quota of this process's cgroup in CPUs (e.g. 1.5), or None when unlimited or unknown.

    Reads cgroup v2 ``cpu.max`` (``"<quota> <period>"`` or ``"max <period>"``), else cgroup v1
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (quota -1: unlimited).
    """
    root = CGROUP_ROOT if root is None else Path(root)

    def read(path: Path) -> str | None:
        try:
            return path.read_text().strip()
        except OSError:
            return None

    v2 = read(root / "cpu.max")
    if v2 is not None:
        parts = v2.split()
        if len(parts) == 2 and parts[0] != "max":
            try:
                return max(float(parts[0]) / float(parts[1]), 0.0) or None
            except ValueError:
                return None
        return None
    for folder in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        quota, period = read(root / folder / "cpu.cfs_quota_us"), read(root / folder / "cpu.cfs_period_us")
        if quota is not None and period is not None:
            try:
                q, p = float(quota), float(period)
            except ValueError:
                return None
            return q / p if q > 0 and p > 0 else None
    return None


#: Environment variable: at most this many CPUs for causalrx's thread and process pools (a whole number >= 1).
CPUS_VARIABLE = "CAUSALRX_CPUS"


def _cpus_from_environment() -> int | None:
    value = os.environ.get(CPUS_VARIABLE, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValidationError(f"{CPUS_VARIABLE}: expected a whole number of CPUs >= 1, got {value!r}")
    return int(value)


def available_cpus() -> int:
    """CPUs this process may run on: its affinity, capped by its cgroup CPU quota (rounded up) and by
    ``CAUSALRX_CPUS`` when set, at least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_limit()
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    cap = _cpus_from_environment()
    if cap is not None:
        cpus = min(cpus, cap)
    if _BUDGET:
        cpus = min(cpus, _BUDGET[-1])
    return max(1, cpus)


_BUDGET: list[int] = []  # caps set by cpu_budget(), innermost last


def _cpu_jiffies(cpus: set[int]) -> tuple[float, float]:
    """(busy, total) jiffies of the given CPUs from /proc/stat."""
    busy = total = 0.0
    with open("/proc/stat") as stat:
        for line in stat:
            name, *fields = line.split()
            if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
                continue
            values = [float(v) for v in fields[:8]]
            idle = values[3] + values[4]  # idle + iowait
            total += sum(values)
            busy += sum(values) - idle
    return busy, total


def others_busy_cpus(interval: float = 0.3) -> float:
    """How many of this process's CPUs other processes kept busy over the last ``interval`` seconds
    (Linux ``/proc/stat``; 0.0 where it cannot be read)."""
    import time

    try:
        cpus = os.sched_getaffinity(0)
        busy0, total0 = _cpu_jiffies(cpus)
        own0 = sum(os.times()[:2])
        time.sleep(interval)
        busy1, total1 = _cpu_jiffies(cpus)
        own1 = sum(os.times()[:2])
    except (OSError, ValueError, AttributeError):
        return 0.0
    if total1 <= total0:
        return 0.0
    share = (busy1 - busy0) / (total1 - total0) * len(cpus)  # CPUs busy, all processes
    return max(0.0, share - (own1 - own0) / interval)


def free_cpus(interval: float = 0.3) -> int:
    """The CPUs this process may use that other processes are not keeping busy now, at least 1:
    :func:`available_cpus` minus :func:`others_busy_cpus`, rounded."""
    return max(1, min(available_cpus(), round(available_cpus() - others_busy_cpus(interval))))


@contextmanager
def cpu_budget(n: int):
    """Run the block as if only ``n`` CPUs were available: :func:`available_cpus` (hence ``n_jobs=None``)
    returns at most ``n``, and the BLAS/OpenMP pools and torch's threads are lowered to it, then restored."""
    import sys

    from threadpoolctl import threadpool_limits

    n = max(1, int(n))
    _BUDGET.append(n)
    torch_before = None
    if "torch" in sys.modules:
        import torch

        torch_before = torch.get_num_threads()
        torch.set_num_threads(min(torch_before, n))
    try:
        with threadpool_limits(limits=n):
            yield n
    finally:
        _BUDGET.pop()
        if torch_before is not None:
            import torch

            torch.set_num_threads(torch_before)


def limit_threads() -> int:
    """Lower the BLAS and OpenMP thread pools (threadpoolctl) and torch's threads to :func:`available_cpus`,
    never raising them; returns that count. Every ``causalrx`` command and every torch fit calls it:
    a pool sized from the host's cores (OpenBLAS and OpenMP ignore a cgroup quota) would
    oversubscribe a container's CPUs."""
    import sys

    from threadpoolctl import threadpool_info, threadpool_limits

    n = available_cpus()
    if any(pool.get("num_threads", 0) > n for pool in threadpool_info()):
        threadpool_limits(limits=n)
    if "torch" in sys.modules:
        limit_torch_threads()
    return n


def limit_torch_threads() -> int:
    """Lower torch's intra-op threads to :func:`available_cpus` (never raise them); returns the count in use."""
    import torch

    n = min(torch.get_num_threads(), available_cpus())
    if n != torch.get_num_threads():
        torch.set_num_threads(n)
    return n


def resolve_n_jobs(n_jobs, name: str = "n_jobs") -> int:
    """The number of workers ``n_jobs`` asks for (see the module docstring)."""
    if n_jobs is None:
        return available_cpus()
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise ValidationError(f"{name}: expected None (all available CPUs), a positive integer, or -1, -2, ...; got {n_jobs!r}")
    if n_jobs > 0:
        return int(n_jobs)
    return max(1, available_cpus() + 1 + int(n_jobs))


SMALL_NETWORK = 256 * 1024  # widest layer x batch size up to which one thread is as fast as several


def small_network_threads(hidden_units, batch_size: int) -> int:
    """Torch threads for training an MLP: 1 when ``max(hidden_units) * batch_size`` is at most
    :data:`SMALL_NETWORK` (thread overhead outweighs the work), else :func:`available_cpus`."""
    widest = max([int(h) for h in hidden_units] or [1])
    return 1 if widest * int(batch_size) <= SMALL_NETWORK else available_cpus()


@contextmanager
def torch_threads(n: int):
    """Run the block with torch's intra-op threads set to ``n`` (capped by :func:`available_cpus`), then restore them."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(int(n), available_cpus())))
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
