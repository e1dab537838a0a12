"""Preparation at scale: proteomics QC + ComBat + imputation on 50,000 x 5,000 proteins, and
genotype QC (call rates, MAF, exact HWE, sex-aware X) on a 50,000 x 100,000 matrix.

Prints wall time and peak memory (RSS) per part. Targets on the 2-core CI machine: under
3 minutes and 12 GiB. The data are generated first and not timed: proteins from a rank-10
signal with 8 batches (shifted and rescaled), 10% missing values and a few non-positive
readings; genotypes as int8 calls (-1 = missing, 1 byte per call: 5 GB) under
Hardy-Weinberg, 5% of variants on non-PAR X, 0.5% of calls missing, 0.2% of variants
violating HWE.

    .venv/bin/python benchmarks/bench_prep.py [--patients 50000 --proteins 5000 --variants 100000]
"""

from __future__ import annotations

import argparse
import gc

import numpy as np
from _measure import measure
from tqdm import tqdm

from causalrx.prep import ComBat, GenotypeQC, LowRankImputer, log_intensities


def make_proteins(n: int, p: int, rng: np.random.Generator):
    batch = rng.integers(0, 8, n).astype(str)
    signal = rng.normal(size=(n, 10)).astype(np.float32) @ rng.normal(size=(10, p)).astype(np.float32) * 0.3
    shift = rng.normal(0, 1, (8, p)).astype(np.float32)
    scale = rng.uniform(0.7, 1.4, (8, 1)).astype(np.float32)
    b = batch.astype(int)
    logx = 10 + (signal + rng.normal(size=(n, p)).astype(np.float32)) * scale[b] + shift[b]
    x = np.exp2(logx, dtype=np.float32).astype(np.float64)
    del logx, signal
    x[rng.random((n, p), dtype=np.float32) < 0.10] = np.nan
    x[rng.random((n, p), dtype=np.float32) < 1e-4] = 0.0  # below detection
    return x, batch


def proteomics_pipeline(x, batch, train, random_state=0):
    y, nonpositive = log_intensities(x)
    del x
    combat = ComBat().fit(y[train], batch[train])
    y = combat.transform(y, batch)
    imputer = LowRankImputer(rank=10, max_fit_rows=20_000, random_state=random_state).fit(y[train])
    out = imputer.transform(y)
    return out, nonpositive, combat, imputer


def make_genotypes(n: int, m: int, rng: np.random.Generator, block: int = 2000):
    maf = rng.uniform(0.005, 0.5, m)
    x = rng.random(m) < 0.05
    male = rng.random(n) < 0.5
    bad_hwe = rng.random(m) < 0.002
    G = np.empty((n, m), dtype=np.int8)
    for j0 in tqdm(range(0, m, block), desc="genotypes", unit="block", leave=False):
        j1 = min(j0 + block, m)
        p = maf[j0:j1]
        u1 = rng.random((n, j1 - j0), dtype=np.float32) < p
        u2 = rng.random((n, j1 - j0), dtype=np.float32) < p
        g = u1.astype(np.int8) + u2
        g[:, bad_hwe[j0:j1]] = 2 * u1[:, bad_hwe[j0:j1]]  # no heterozygotes
        xs = x[j0:j1]
        g[np.ix_(male, xs)] = u1[np.ix_(male, xs)]  # hemizygous men
        g[rng.random((n, j1 - j0), dtype=np.float32) < 0.005] = -1
        G[:, j0:j1] = g
    return G, x, male, bad_hwe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=50_000)
    parser.add_argument("--proteins", type=int, default=5_000)
    parser.add_argument("--variants", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    n = args.patients
    train = np.zeros(n, bool)
    train[rng.choice(n, int(0.7 * n), replace=False)] = True

    x, batch = make_proteins(n, args.proteins, rng)
    (out, nonpos, combat, imputer), wall, peak, before = measure(proteomics_pipeline, x, batch, train, args.seed)
    del x
    print(f"proteomics {n:,} x {args.proteins:,}: log2 + ComBat (fit on {train.sum():,} training patients) + low-rank imputation (rank 10)")
    print(f"  wall {wall:.1f} s | peak RSS {peak / 1024:.2f} GiB (data alone {before / 1024:.2f} GiB)")
    print(f"  non-positive readings set missing: {nonpos:,}; imputer iterations: {imputer.n_iter_}; NaN left: {int(np.isnan(out).sum())}")
    del out, combat, imputer
    gc.collect()

    G, x_mask, male, bad_hwe = make_genotypes(n, args.variants, rng)
    qc = GenotypeQC(min_variant_call_rate=0.95, min_sample_call_rate=0.95, min_maf=0.01, hwe_p=1e-6)
    _, wall, peak, before = measure(qc.fit, G, None, x_nonpar=x_mask, male=male)
    s = qc.result_.summary()
    flagged = qc.variants_["reason"].to_numpy() == "hwe"
    print(f"genotypes {n:,} x {args.variants:,} (int8, {G.nbytes / 2**30:.1f} GiB): call rates, MAF, exact HWE (women only on X)")
    print(f"  wall {wall:.1f} s | peak RSS {peak / 1024:.2f} GiB (data alone {before / 1024:.2f} GiB)")
    print(f"  {s}")
    print(f"  planted HWE violations caught: {int((flagged & bad_hwe).sum())} of {int(bad_hwe.sum())}; "
          f"flagged among the others: {int((flagged & ~bad_hwe).sum())}")  # fmt: skip


if __name__ == "__main__":
    main()
