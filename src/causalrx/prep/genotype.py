"""Genotype QC: call rates, minor-allele frequency, the exact Hardy-Weinberg test, sex-aware
chromosome X, and polygenic risk scores.

Genotypes are an ``(n_samples, n_variants)`` array of allele counts: ``int8`` with ``-1`` for
a missing call (the compact form, 1 byte per call) or float with NaN (dosages are rounded
to hard calls for the counts). All counting runs over blocks of variants, so a
50,000 x 100,000 matrix is never copied whole.

Chromosome X (outside the pseudo-autosomal regions): men carry one copy, so their calls
are 0/1 (see :mod:`causalrx.data.io.vcf`). Allele frequencies count 2 copies per woman and
1 per man; the Hardy-Weinberg test uses women only, since men have no heterozygotes.

References
----------
Wigginton JE, Cutler DJ, Abecasis GR. A note on exact tests of Hardy-Weinberg equilibrium.
Am J Hum Genet 2005;76:887-893.
Anderson CA, et al. Data quality control in genetic case-control association studies.
Nat Protoc 2010;5:1564-1573.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator
import pandas as pd
from scipy.special import gammaln

from causalrx.exceptions import ValidationError

BLOCK = 2048


def _hard_calls(block: np.ndarray) -> np.ndarray:
    """int8 calls with -1 for missing, from int8 or float (NaN) input."""
    if block.dtype == np.int8:
        return block
    out = np.rint(np.nan_to_num(block, nan=-1.0)).astype(np.int8)
    return out


@dataclass(frozen=True, eq=False)
class GenotypeCounts:
    """Per-variant genotype counts (all samples; women only for X) and per-sample missing calls."""

    n0: np.ndarray
    n1: np.ndarray
    n2: np.ndarray
    n_missing: np.ndarray
    hwe_counts: np.ndarray  # (m, 3): hom-ref, het, hom-alt among the samples HWE is tested in
    alt_copies: np.ndarray
    allele_total: np.ndarray
    sample_missing: np.ndarray

    @property
    def variant_call_rate(self) -> np.ndarray:
        called = self.n0 + self.n1 + self.n2
        return called / np.maximum(called + self.n_missing, 1)

    @property
    def maf(self) -> np.ndarray:
        p = self.alt_copies / np.maximum(self.allele_total, 1)
        return np.minimum(p, 1 - p)


def genotype_counts(genotypes: np.ndarray, x_nonpar: np.ndarray | None = None, male: np.ndarray | None = None) -> GenotypeCounts:
    """Count genotypes per variant and missing calls per sample, in blocks of variants."""
    n, m = genotypes.shape
    x_nonpar = np.zeros(m, bool) if x_nonpar is None else np.asarray(x_nonpar, bool)
    male = np.zeros(n, bool) if male is None else np.asarray(male, bool)
    female = ~male
    counts = {k: np.zeros(m, np.int64) for k in ("n0", "n1", "n2", "miss", "alt", "tot")}
    hwe = np.zeros((m, 3), np.int64)
    sample_missing = np.zeros(n, np.int64)
    for j0 in range(0, m, BLOCK):
        sl = slice(j0, min(j0 + BLOCK, m))
        g = _hard_calls(genotypes[:, sl])
        miss = g < 0
        sample_missing += miss.sum(axis=1)
        n0, n1, n2 = (g == 0).sum(0), (g == 1).sum(0), (g == 2).sum(0)
        counts["n0"][sl], counts["n1"][sl], counts["n2"][sl], counts["miss"][sl] = n0, n1, n2, miss.sum(0)
        counts["alt"][sl] = n1 + 2 * n2
        counts["tot"][sl] = 2 * (n0 + n1 + n2)
        hwe[sl] = np.column_stack([n0, n1, n2])
        xs = np.flatnonzero(x_nonpar[sl])
        if len(xs):
            gx = g[:, xs]
            called_m = (gx[male] >= 0).sum(0)
            gf = gx[female]
            f = np.column_stack([(gf == 0).sum(0), (gf == 1).sum(0), (gf == 2).sum(0)])
            hwe[j0 + xs] = f
            counts["tot"][j0 + xs] = 2 * f.sum(1) + called_m
    return GenotypeCounts(
        n0=counts["n0"], n1=counts["n1"], n2=counts["n2"], n_missing=counts["miss"], hwe_counts=hwe,
        alt_copies=counts["alt"], allele_total=counts["tot"], sample_missing=sample_missing,
    )  # fmt: skip


def _log_het_prob(het, rare, n):
    """log P(het | n genotypes, rare copies) up to a constant shared by one variant."""
    homr = (rare - het) / 2
    homc = n - het - homr
    return het * np.log(2.0) - gammaln(het + 1) - gammaln(homr + 1) - gammaln(homc + 1)


def hwe_exact(hom_ref, het, hom_alt) -> np.ndarray:
    """Exact two-sided Hardy-Weinberg p-values (Wigginton et al. 2005), vectorised over variants.

    The heterozygote count given the allele counts has the distribution
    ``P(h) = n! n_r! n_c! 2^h / (h! hom_r! hom_c! (2n)!)``; the p-value sums ``P(h)`` over
    every ``h`` no more likely than the observed one. Terms are generated outwards from the
    mode by Wigginton's recursion until they fall 17 orders of magnitude below
    ``min(1, P(observed) / P(mode))``, so the p-value keeps full relative precision down to
    ~1e-300 (below that it is reported as 0).
    """
    hom_ref, het, hom_alt = (np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (hom_ref, het, hom_alt))
    if np.any(hom_ref < 0) or np.any(het < 0) or np.any(hom_alt < 0):
        raise ValidationError("hwe_exact: genotype counts must be non-negative")
    n = hom_ref + het + hom_alt
    rare = np.minimum(2 * hom_ref + het, 2 * hom_alt + het)
    p = np.ones_like(n)
    todo = np.flatnonzero((rare > 0) & (n > 0))
    if not len(todo):
        return p
    n_, r_, h_obs = n[todo], rare[todo], het[todo]
    mid = np.floor(r_ * (2 * n_ - r_) / (2 * n_))
    mid += (r_ - mid) % 2
    rel_obs = np.exp(_log_het_prob(h_obs, r_, n_) - _log_het_prob(mid, r_, n_))
    stop = np.maximum(np.minimum(rel_obs, 1.0) * 1e-17, 1e-300)
    tie = rel_obs * (1 + 1e-7)
    total = np.ones_like(n_)
    tail = (1.0 <= tie).astype(float)
    for direction in (-1, 1):
        idx = np.arange(len(todo))
        h, term = mid.copy(), np.ones_like(n_)
        while len(idx):
            hh, rr, nn = h[idx], r_[idx], n_[idx]
            homr = (rr - hh) / 2
            homc = nn - hh - homr
            if direction < 0:
                ok = hh >= 2
                ratio = hh * (hh - 1) / (4 * (homr + 1) * (homc + 1))
            else:
                ok = hh <= rr - 2
                ratio = 4 * homr * homc / ((hh + 2) * (hh + 1))
            idx, ratio = idx[ok], ratio[ok]
            t = term[idx] * ratio
            term[idx], h[idx] = t, h[idx] + 2 * direction
            total[idx] += t
            tail[idx] += np.where(t <= tie[idx], t, 0.0)
            idx = idx[t >= stop[idx]]
    p[todo] = np.minimum(tail / total, 1.0)
    return p


@dataclass(frozen=True, eq=False)
class GenotypeQCResult:
    """Which variants and samples passed and why the others failed."""

    variants: pd.DataFrame  # per variant: call_rate, maf, hwe_p, keep, reason
    samples: pd.DataFrame  # per sample: call_rate, keep, reason

    def summary(self) -> dict[str, int]:
        v, s = self.variants, self.samples
        out = {"variants_in": len(v), "variants_kept": int(v["keep"].sum()), "samples_in": len(s), "samples_kept": int(s["keep"].sum())}
        for reason, count in v.loc[~v["keep"], "reason"].value_counts().items():
            out[f"variants_removed_{reason}"] = int(count)
        return out


class GenotypeQC(BaseEstimator):
    """Call-rate, MAF and Hardy-Weinberg filters, fitted on training samples.

    Order (as in PLINK practice): variants with call rate < ``min_variant_call_rate``;
    then samples with call rate < ``min_sample_call_rate`` (computed on the remaining
    variants); then, on the passing samples, variants with MAF < ``min_maf`` or HWE
    p-value < ``hwe_p``. A failed *sample* keeps its patient in the cohort: its genotypes
    are treated as absent (the genomics presence flag says so), never silently dropped.

    Parameters
    ----------
    min_variant_call_rate, min_sample_call_rate : float in [0, 1]
    min_maf : float in [0, 0.5]
    hwe_p : float
        Variants with an exact HWE p-value below this are removed (0 disables the test).
    """

    def __init__(self, min_variant_call_rate: float = 0.95, min_sample_call_rate: float = 0.95, min_maf: float = 0.01, hwe_p: float = 1e-6):
        self.min_variant_call_rate = min_variant_call_rate
        self.min_sample_call_rate = min_sample_call_rate
        self.min_maf = min_maf
        self.hwe_p = hwe_p

    def _check_params(self) -> None:
        for name in ("min_variant_call_rate", "min_sample_call_rate", "hwe_p"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ValidationError(f"{name}: expected a value in [0, 1], got {v!r}")
        if not 0 <= self.min_maf <= 0.5:
            raise ValidationError(f"min_maf: expected a value in [0, 0.5], got {self.min_maf!r}")

    def fit(self, genotypes: np.ndarray, variant_ids=None, *, x_nonpar=None, male=None, sample_ids=None) -> GenotypeQC:
        self._check_params()
        g = np.asarray(genotypes) if not isinstance(genotypes, np.ndarray) else genotypes
        if g.ndim != 2:
            raise ValidationError(f"genotypes: expected a 2-D (samples x variants) array, got shape {g.shape}")
        n, m = g.shape
        variant_ids = np.asarray(variant_ids if variant_ids is not None else [f"v{j}" for j in range(m)])
        sample_ids = np.asarray(sample_ids if sample_ids is not None else np.arange(n))
        if len(variant_ids) != m or len(sample_ids) != n:
            raise ValidationError(f"variant_ids/sample_ids: expected {m} and {n} entries, got {len(variant_ids)} and {len(sample_ids)}")
        male = np.zeros(n, bool) if male is None else np.asarray(male, bool)
        first = genotype_counts(g, x_nonpar, male)
        v_ok = first.variant_call_rate >= self.min_variant_call_rate
        # Missing calls on the passing variants = all missing calls minus those on the (few) failing ones.
        s_miss = first.sample_missing - (genotype_counts(g[:, ~v_ok]).sample_missing if not v_ok.all() else 0)
        s_rate = 1 - s_miss / max(int(v_ok.sum()), 1)
        s_ok = s_rate >= self.min_sample_call_rate
        c = genotype_counts(g[s_ok] if not s_ok.all() else g, x_nonpar, male[s_ok])
        hwe = hwe_exact(*c.hwe_counts.T)
        maf = c.maf
        reason = np.select(
            [~v_ok, maf < self.min_maf, hwe < self.hwe_p], ["call_rate", "maf", "hwe"], default=""
        )
        self.variants_ = pd.DataFrame({
            "variant_id": variant_ids, "call_rate": first.variant_call_rate, "maf": maf, "hwe_p": hwe,
            "keep": reason == "", "reason": reason,
        })  # fmt: skip
        self.samples_ = pd.DataFrame({"sample_id": sample_ids, "call_rate": s_rate, "keep": s_ok, "reason": np.where(s_ok, "", "call_rate")})
        self.keep_ = self.variants_["keep"].to_numpy()
        return self

    @property
    def result_(self) -> GenotypeQCResult:
        return GenotypeQCResult(self.variants_, self.samples_)

    def transform(self, genotypes: np.ndarray) -> np.ndarray:
        """The columns kept at fit time (the same variants for new patients)."""
        if not hasattr(self, "keep_"):
            raise ValidationError("GenotypeQC: call fit before transform")
        if genotypes.shape[1] != len(self.keep_):
            raise ValidationError(f"genotypes: expected {len(self.keep_)} variant columns (as at fit), got {genotypes.shape[1]}")
        return genotypes[:, self.keep_]

