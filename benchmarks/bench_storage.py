"""Cohort persistence: save / replace / load time, and a SIGKILL at every write step of a save.

A simulated cohort (default n = 5,000 with 10 s ECG at 100 Hz) is saved into a fresh
folder, saved again over an existing store (the replace path), and loaded. Then, for k = 1,
2, ... a forked child replaces the store with another cohort and kills itself with SIGKILL
at its k-th write step (every ``os.fsync``, ``os.replace``, ``pyarrow.parquet.write_table``,
``Path.write_text`` and ``shutil.rmtree`` call), until a save completes; after each kill the
store is loaded (checksums verified) and classed as the previous cohort, the new one, or
unreadable. One row per run is appended to ``benchmarks/results/bench_storage.csv``.

    .venv/bin/python benchmarks/bench_storage.py [--n 5000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from _measure import measure  # noqa: E402

from causalrx.data import Cohort  # noqa: E402
from causalrx.data.simulate import simulate_cohort  # noqa: E402


def _die_at(cohort, target: Path, moment: int) -> None:
    calls = [0]

    def step(fn):
        def wrapped(*args, **kwargs):
            calls[0] += 1
            if calls[0] == moment:
                os.kill(os.getpid(), signal.SIGKILL)
            return fn(*args, **kwargs)

        return wrapped

    os.fsync, os.replace, pq.write_table, shutil.rmtree = (step(f) for f in (os.fsync, os.replace, pq.write_table, shutil.rmtree))
    pathlib.Path.write_text = step(pathlib.Path.write_text)
    cohort.save(target)
    os._exit(0)


def _classify(target: Path, old: Cohort, new: Cohort) -> str:
    try:
        back = Cohort.load(target)
    except Exception as err:  # noqa: BLE001 - any failure to load is what is counted here
        return f"unreadable ({type(err).__name__})"
    for name, cohort in (("previous", old), ("new", new)):
        if back.n_patients == cohort.n_patients and back.clinical.equals(cohort.clinical):
            return name
    return "mixed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--csv", default=str(Path(__file__).parent / "results" / "bench_storage.csv"))
    args = parser.parse_args()
    old = simulate_cohort(n=args.n, random_state=0).cohort
    new = simulate_cohort(n=args.n // 2, random_state=1).cohort
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "store"
        _, t_save, peak_save, _ = measure(old.save, Path(tmp) / "fresh")
        old.save(target)
        _, t_replace, _, _ = measure(new.save, target)
        _, t_load, peak_load, _ = measure(Cohort.load, target)
        size = sum(p.stat().st_size for p in target.iterdir()) / 2**20
        outcomes = []
        context = multiprocessing.get_context("fork")
        for moment in range(1, 500):
            shutil.rmtree(target, ignore_errors=True)
            for leftover in Path(tmp).glob(".store.*"):
                shutil.rmtree(leftover)
            old.save(target)
            child = context.Process(target=_die_at, args=(new, target, moment))
            child.start()
            child.join(300)
            if child.exitcode == 0:
                break
            outcomes.append(_classify(target, old, new))
    counts = pd.Series(outcomes).value_counts().to_dict()
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent).stdout.strip()
    row = pd.DataFrame([{
        "git": rev, "n": args.n, "store_mib": round(size, 1), "save_s": round(t_save, 2), "replace_s": round(t_replace, 2),
        "load_s": round(t_load, 2), "peak_save_mib": round(peak_save), "kill_moments": len(outcomes),
        "previous_loads": counts.get("previous", 0), "new_loads": counts.get("new", 0),
        "unreadable": sum(v for k, v in counts.items() if k.startswith("unreadable") or k == "mixed"),
    }])  # fmt: skip
    print(row.to_string(index=False))
    path = Path(args.csv)
    path.parent.mkdir(parents=True, exist_ok=True)
    row.to_csv(path, mode="a", header=not path.exists(), index=False)


if __name__ == "__main__":
    main()
