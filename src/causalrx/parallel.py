"""One convention for parallelism: how many CPUs this process may use, and what ``n_jobs`` means.

``n_jobs=None`` (the default everywhere) means every CPU the process may use: its CPU
affinity (cgroups, ``taskset``, a scheduler's allocation), not the machine's core count.
A positive integer is that many workers; ``-1`` is the same as ``None`` and ``-2`` one
fewer, as in joblib. Callers that already run in parallel pass ``n_jobs=1`` to what they
call, so pools are never nested.
"""

from __future__ import annotations

import numbers
import os

from causalrx.exceptions import ValidationError


def available_cpus() -> int:
    """CPUs this process may run on (its affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def resolve_n_jobs(n_jobs, name: str = "n_jobs") -> int:
    """The number of workers ``n_jobs`` asks for (see the module docstring)."""
    if n_jobs is None:
        return available_cpus()
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise ValidationError(f"{name}: expected None (all available CPUs), a positive integer, or -1, -2, ...; got {n_jobs!r}")
    if n_jobs > 0:
        return int(n_jobs)
    return max(1, available_cpus() + 1 + int(n_jobs))
