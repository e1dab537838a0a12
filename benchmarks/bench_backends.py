"""Wall time of a small replication study on each backend, and Ray's overhead per task.

The study: ``--tasks`` replications, each simulating a cohort (n = ``--n``, 3 arms) and
fitting cross-fitted AIPW ATEs (``tests/test_execution.py::replication``), with seeds from
the task keys, run serially, with joblib and on a local Ray instance started for it (2 CPUs
by default). Ray's overhead per task is the wall time of ``--tasks`` empty tasks on the
started instance (start-up measured apart). The numbers of every backend are checked to be
identical.

The inner loops: one ``CateSelector()`` fit (default candidates, 3 folds: 9 candidate fits
and the refits) on a simulated cohort of ``--n`` patients, in this process (the default), in
a ``using("joblib")`` block and in a ``using("ray")`` block (Ray started for the block, its
start-up included), with the largest difference of the stacked effects from the serial ones.
Rows go to ``benchmarks/results/backends.csv``.

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
from causalrx.execution import run_tasks, task_seed, using  # noqa: E402
from tests.test_execution import replication  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def empty(i: int) -> int:
    return i


def selector_effects(n: int) -> np.ndarray:
    """The stacked effects of a default ``CateSelector`` fitted on a simulated cohort, for its first 200 patients."""
    from causalrx.data.simulate import simulate_cohort
    from causalrx.effects import CateSelector, cohort_inputs
    from causalrx.report.representation import raw_covariates

    sim = simulate_cohort(n=n, n_drugs=3, random_state=5, ecg=False)
    _, action, y, names = cohort_inputs(sim.cohort, "efficacy")
    X = raw_covariates(sim.cohort)
    return CateSelector(random_state=0).fit(X, action, y, action_names=names).effect(X[:200]).ite


def inner_loop_rows(n: int, cpus: int) -> list[dict]:
    rows, effects = [], {}
    for backend in ("serial", "joblib", "ray"):
        start = time.perf_counter()
        if backend == "serial":
            effects[backend] = selector_effects(n)
        else:
            with using(backend, n_jobs=cpus):
                effects[backend] = selector_effects(n)
        diff = float(np.abs(effects[backend] - effects["serial"]).max())
        rows.append({"what": "CateSelector() fit (inner loops)", "backend": backend, "wall_s": time.perf_counter() - start,
                     "max_abs_difference": diff})  # fmt: skip
        print(rows[-1], flush=True)
    return rows


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
    for row in rows:
        row["max_abs_difference"] = 0.0 if identical else np.nan
    rows += inner_loop_rows(args.n, args.cpus)
    table = pd.DataFrame(rows).assign(tasks=args.tasks, n=args.n, cpus=args.cpus, identical_numbers=identical)
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / "backends.csv", index=False, float_format="%.4g")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
