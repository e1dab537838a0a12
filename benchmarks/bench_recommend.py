"""Recommendation tiers at scale: n patients x k drugs x d covariates, with reasons and drivers.

Effects with intervals and a mask are generated (20% of non-reference cells masked by one
rule each); ``recommend`` builds the long table with tiers, ranks, confidence, reasons and
three drivers per cell. Prints wall time, peak memory, and the checks that matter: no
masked drug ranked, one recommended drug per patient.

    .venv/bin/python benchmarks/bench_recommend.py [--n 100000] [--k 6] [--d 50]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _measure import measure  # noqa: E402

from causalrx.effects import EffectEstimate  # noqa: E402
from causalrx.recommend import recommend  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=6)
    parser.add_argument("--d", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.n, args.d))
    beta = rng.normal(size=(args.d, args.k)) * (rng.random((args.d, args.k)) < 0.2)
    ite = X @ beta * 0.3 + rng.normal(size=args.k)
    ite[:, 0] = 0
    half = 0.5 + rng.random((args.n, args.k))
    effect = EffectEstimate(ite, ite - half, ite + half, ite.mean(0), ite.mean(0), ite.mean(0), "synthetic",
                            tuple(f"drug_{j}" for j in range(args.k)))  # fmt: skip
    mask = rng.random((args.n, args.k)) >= 0.2
    mask[:, 0] = True
    rec, wall, peak, before = measure(recommend, effect, mask, X)
    table = rec.table
    tier = table["tier"].to_numpy().reshape(args.n, args.k)
    print(f"recommend: n={args.n:,} x k={args.k} x d={args.d}: {wall:.1f} s, peak RSS {peak / 1024:.2f} GiB "
          f"(+{(peak - before) / 1024:.2f} GiB over the inputs), {len(table):,} rows")  # fmt: skip
    print(f"masked drugs not contraindicated: {int(((tier != 'contraindicated') & ~mask).sum())}; "
          f"patients without exactly one recommended drug: {int(((tier == 'recommended').sum(axis=1) != 1).sum())}")  # fmt: skip
    print(f"reference arm recommended for {np.mean(tier[:, 0] == 'recommended'):.1%}; surrogate R^2 (should be 1 here): "
          f"{rec.surrogate_r2.dropna().round(3).tolist()}")  # fmt: skip


if __name__ == "__main__":
    main()
