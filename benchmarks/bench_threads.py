"""Torch threads for the small networks of offline RL and FQE, on an idle machine and under load.

Times 500 gradient steps of d3rlpy NFQ, DiscreteCQL and FQE (64 x 64 MLP, batches of 256;
1,000 simulated episodes x 4 visits) with one torch thread (what causalrx uses for
networks this small, :func:`causalrx.parallel.small_network_threads`) and with one thread
per available CPU (torch's default, capped by affinity and cgroup quota), first on an idle
machine, then while as many busy processes as there are available CPUs compete for them.
Saved to ``benchmarks/results/threads.csv``.

    .venv/bin/python benchmarks/bench_threads.py [--steps 500]
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from causalrx import parallel
from causalrx.data.simulate import simulate_cohort
from causalrx.ope.fqe import FQE
from causalrx.policy import OfflineRLPolicy

warnings.filterwarnings("ignore")
RESULTS = Path(__file__).parent / "results"


def spin() -> None:
    while True:
        pass


def fits(steps: int):
    sim = simulate_cohort(n=1000, n_drugs=4, random_state=0, ecg=False, horizon=4)
    traj = sim.trajectories()
    uniform = np.full((traj.n_steps, traj.n_actions), 1 / traj.n_actions)
    return {
        "NFQ": lambda: OfflineRLPolicy(algorithm="nfq", n_steps=steps, device="cpu", random_state=0).fit(traj),
        "DiscreteCQL": lambda: OfflineRLPolicy(algorithm="cql", n_steps=steps, device="cpu", random_state=0).fit(traj),
        "FQE": lambda: FQE(n_steps=steps, n_refits=0, device="cpu", random_state=0).fit(traj, uniform),
    }


def time_all(work: dict, load: str, steps: int) -> list[dict]:
    rows = []
    cpus = parallel.available_cpus()
    for threads, limit in (("1 (causalrx)", parallel.SMALL_NETWORK), (f"{cpus} (one per CPU)", 0)):
        parallel.SMALL_NETWORK = limit  # 0: every network counts as big, so torch gets every available CPU
        for name, fit in work.items():
            start = time.perf_counter()
            fit()
            rows.append({"fit": name, "steps": steps, "load": load, "torch_threads": threads,
                         "seconds": time.perf_counter() - start, "available_cpus": cpus})  # fmt: skip
            print(f"{name:12s} {load:28s} threads {threads:16s} {rows[-1]['seconds']:7.1f} s", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--out", type=Path, default=RESULTS / "threads.csv")
    args = parser.parse_args()
    default = parallel.SMALL_NETWORK
    work = fits(args.steps)
    work["NFQ"]()  # warm-up: imports and first allocations
    rows = time_all(work, "idle", args.steps)
    parallel.SMALL_NETWORK = default
    busy = [multiprocessing.Process(target=spin, daemon=True) for _ in range(parallel.available_cpus())]
    for p in busy:
        p.start()
    try:
        rows += time_all(work, f"{len(busy)} busy processes", args.steps)
    finally:
        for p in busy:
            p.terminate()
    parallel.SMALL_NETWORK = default
    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.pivot_table(index=["load", "fit"], columns="torch_threads", values="seconds").to_markdown(floatfmt=".1f"))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
