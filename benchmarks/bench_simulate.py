"""Wall time and peak memory of simulate_cohort(n=100_000, n_drugs=10) with ECG waveforms.

Target (CI machine, 2 cores): under 60 s and under 4 GiB.

    .venv/bin/python benchmarks/bench_simulate.py [--n 100000] [--drugs 10]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _measure import measure  # noqa: E402

from causalrx.data.simulate import simulate_cohort  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--drugs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sim, wall, peak, before = measure(simulate_cohort, n=args.n, n_drugs=args.drugs, random_state=args.seed, progress=True)
    ecg = sim.cohort.ecg
    print(f"simulate_cohort(n={args.n:,}, n_drugs={args.drugs}) with ECG {ecg.signals.shape} float32 "
          f"({ecg.signals.nbytes / 2**20:.0f} MiB)")  # fmt: skip
    print(f"wall time      : {wall:6.1f} s   (target < 60 s)")
    print(f"peak RSS       : {peak / 1024:6.2f} GiB (target < 4 GiB; {before / 1024:.2f} GiB before the call)")
    print(f"within target  : {wall < 60 and peak < 4096}")


if __name__ == "__main__":
    main()
