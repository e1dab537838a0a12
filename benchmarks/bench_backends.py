"""Wall time of a small replication study on each backend, and Ray's overhead per task.

The study: ``--tasks`` replications, each simulating a cohort (n = ``--n``, 3 arms) and
fitting cross-fitted AIPW ATEs (``tests/test_execution.py::replication``), with seeds from
the task keys, run serially, with joblib and on a local Ray instance started for it (2 CPUs
by default). Ray's overhead per task is the wall time of ``--tasks`` empty tasks on the
started instance (start-up measured apart). The numbers of every backend are checked to be
identical. Rows go to ``benchmarks/results/backends.csv``.

    .venv/bin/python benchmarks/bench_backends.py [--tasks 8] [--n 1000] [--cpus 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from causalrx.execution import run_tasks, task_seed  # noqa: E402
from tests.test_execution import replication  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def empty(i: int) -> int:
    return i


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()
    tasks = [(f"rep{i}", {"seed": task_seed(0, f"rep{i}"), "n": args.n}) for i in range(args.tasks)]
    rows, results = [], {}
    for backend in ("serial", "joblib", "ray"):
        start = time.perf_counter()
        results[backend] = np.array(run_tasks(replication, tasks, backend=backend, n_jobs=args.cpus))
        rows.append({"what": f"{args.tasks} replications", "backend": backend, "wall_s": time.perf_counter() - start})
        print(rows[-1], flush=True)
    identical = all(np.array_equal(results["serial"], r) for r in results.values())
    import ray

    start = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    rows.append({"what": "ray start-up", "backend": "ray", "wall_s": time.perf_counter() - start})
    n_empty = 200
    start = time.perf_counter()
    run_tasks(empty, [(i, {"i": i}) for i in range(n_empty)], backend="ray")
    per_task = (time.perf_counter() - start) / n_empty
    rows.append({"what": "overhead per empty task", "backend": "ray", "wall_s": per_task})
    start = time.perf_counter()
    ray.shutdown()
    rows.append({"what": "ray shutdown", "backend": "ray", "wall_s": time.perf_counter() - start})
    table = pd.DataFrame(rows).assign(tasks=args.tasks, n=args.n, cpus=args.cpus, identical_numbers=identical)
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / "backends.csv", index=False, float_format="%.4g")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
