"""Pharmacogene star-allele diplotypes -> CPIC phenotypes, and polygenic risk scores.

The allele-function table (``data/cpic_alleles.csv``: gene, allele, function, activity
value, source) and the phenotype rules (``data/cpic_phenotypes.csv``) ship with causalrx.
Genes scored by activity (CYP2D6, CYP2C9, DPYD) sum the two alleles' activity values
(a duplication ``*1x2`` multiplies its allele's value by the copy number) and map the sum
through CPIC's ranges; the others map the pair of allele functions. Users extend either
table by passing their own.
"""

from __future__ import annotations

import re
from importlib.resources import files

import numpy as np
import pandas as pd

from causalrx.exceptions import ValidationError

_DUP = re.compile(r"^(?P<allele>.+?)x(?P<copies>\d+|N)$")


def allele_table() -> pd.DataFrame:
    """The shipped CPIC allele-function table."""
    return pd.read_csv(files("causalrx.prep") / "data" / "cpic_alleles.csv", dtype={"allele": str})


def phenotype_rules() -> pd.DataFrame:
    """The shipped CPIC diplotype-to-phenotype rules."""
    return pd.read_csv(files("causalrx.prep") / "data" / "cpic_phenotypes.csv", dtype=str)


def _split(diplotype: str, gene: str) -> tuple[str, str]:
    parts = str(diplotype).replace("|", "/").split("/")
    if len(parts) != 2 or not all(parts):
        raise ValidationError(f"{gene}: diplotype {diplotype!r} is not of the form '*1/*2'")
    return parts[0].strip(), parts[1].strip()


def _allele(table: pd.DataFrame, gene: str, allele: str) -> tuple[str, float]:
    """(function, activity value) of one allele of ``gene``; a duplication ``*1x2`` multiplies the value."""
    copies = 1
    m = _DUP.match(allele)
    if m and m["allele"] in table.index:
        allele, copies = m["allele"], (2 if m["copies"] == "N" else int(m["copies"]))
    if allele not in table.index:
        raise ValidationError(f"{gene}: allele {allele!r} is not in the CPIC allele table (known: {list(table.index)})")
    row = table.loc[allele]
    return row["function"], float(row["activity_value"]) * copies if pd.notna(row["activity_value"]) else np.nan


def diplotype_phenotype(gene: str, diplotypes, *, alleles: pd.DataFrame | None = None, rules: pd.DataFrame | None = None) -> np.ndarray:
    """CPIC phenotype of each diplotype of ``gene`` (None where the diplotype is missing).

    Raises
    ------
    ValidationError
        For a gene without rules, an allele absent from the allele table, or a diplotype
        that is not ``a/b``; the message names the gene and the allele.
    """
    alleles = allele_table() if alleles is None else alleles
    rules = phenotype_rules() if rules is None else rules
    table = alleles[alleles["gene"] == gene].set_index("allele")
    gene_rules = rules[rules["gene"] == gene]
    if gene_rules.empty or table.empty:
        raise ValidationError(f"{gene}: no CPIC rules shipped for this gene; known genes: {sorted(set(rules['gene']))}")
    method = gene_rules["method"].iloc[0]

    def lookup(allele: str) -> tuple[str, float]:
        return _allele(table, gene, allele)

    def one(diplotype) -> str | None:
        if diplotype is None or (isinstance(diplotype, float) and np.isnan(diplotype)):
            return None
        (f1, a1), (f2, a2) = (lookup(a) for a in _split(diplotype, gene))
        if method == "activity":
            score = a1 + a2
            for rule, phenotype in zip(gene_rules["rule"], gene_rules["phenotype"]):
                lo, hi = (float(x) for x in rule.split("-"))
                if lo - 1e-9 <= score <= hi + 1e-9:
                    return phenotype
            raise ValidationError(f"{gene}: activity score {score} of {diplotype!r} falls in no CPIC range")
        key = "+".join(sorted((f1, f2)))
        match = gene_rules.loc[gene_rules["rule"] == key, "phenotype"]
        if match.empty:
            raise ValidationError(f"{gene}: no CPIC phenotype rule for allele functions {key} ({diplotype!r})")
        return match.iloc[0]

    cache: dict = {}
    return np.array([cache.setdefault(d, one(d)) if isinstance(d, str) else one(d) for d in diplotypes], dtype=object)


def diplotype_activity(gene: str, diplotypes, *, alleles: pd.DataFrame | None = None) -> np.ndarray:
    """CPIC activity score of each diplotype (the sum of the two alleles' activity values;
    NaN where the diplotype is missing). Only for genes scored by activity (CYP2D6, CYP2C9,
    DPYD); rules that split a phenotype by score (e.g. DPYD 1.0 vs 1.5, CYP2C9 1.0 vs 1.5)
    read it as ``<gene>_activity``."""
    alleles = allele_table() if alleles is None else alleles
    table = alleles[alleles["gene"] == gene].set_index("allele")
    if table.empty or table["activity_value"].isna().all():
        raise ValidationError(f"{gene}: not scored by activity; genes with activity values: "
                              f"{sorted(set(alleles.loc[alleles['activity_value'].notna(), 'gene']))}")  # fmt: skip

    out = np.full(len(diplotypes), np.nan)
    for i, d in enumerate(diplotypes):
        if isinstance(d, str):
            a, b = _split(d, gene)
            out[i] = _allele(table, gene, a)[1] + _allele(table, gene, b)[1]
    return out


def polygenic_score(
    dosage: np.ndarray,
    variants: pd.DataFrame,
    weights: pd.DataFrame,
    *,
    male: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, int]]:
    """Weighted allele count ``sum_j w_j * copies of effect allele j`` per patient.

    ``weights`` follows the PGS Catalog scoring-file columns: ``effect_allele``,
    ``effect_weight`` and either ``variant_id`` (or ``rsID``) or ``chr_name`` +
    ``chr_position``. Where the effect allele is the REF allele, copies are
    ``ploidy - dosage`` (ploidy 1 for men on non-PAR X); strand-flipped alleles are matched
    by their complement unless ambiguous (A/T, C/G). Missing calls are replaced by the
    variant's mean dosage (PLINK's default). Returns the scores and counts of
    matched / flipped / unmatched / imputed, so nothing is dropped unseen.
    """
    w = weights.rename(columns={"rsID": "variant_id", "chr_name": "chrom", "chr_position": "pos"})
    need = {"effect_allele", "effect_weight"}
    if not need <= set(w.columns) or not ({"variant_id"} <= set(w.columns) or {"chrom", "pos"} <= set(w.columns)):
        raise ValidationError(
            f"weights: expected columns effect_allele, effect_weight and variant_id (or chr_name + chr_position); got {list(w.columns)}"
        )
    v = variants.reset_index(drop=True).assign(col=np.arange(len(variants)))
    if "variant_id" in w.columns:
        merged = w.merge(v[["variant_id", "ref", "alt", "col", "x_nonpar"] if "x_nonpar" in v else ["variant_id", "ref", "alt", "col"]], on="variant_id", how="left")
    else:
        w = w.assign(chrom=w["chrom"].astype(str), pos=w["pos"].astype(np.int64))
        merged = w.merge(v.assign(chrom=v["chrom"].astype(str)), on=["chrom", "pos"], how="left")
    comp = str.maketrans("ACGT", "TGCA")
    eff = merged["effect_allele"].astype(str).str.upper()
    alt, ref = merged["alt"].astype(str).str.upper(), merged["ref"].astype(str).str.upper()
    ambiguous = (alt.str.translate(comp) == ref)
    is_alt = eff == alt
    is_ref = eff == ref
    flip_alt = ~is_alt & ~is_ref & ~ambiguous & (eff.str.translate(comp) == alt)
    flip_ref = ~is_alt & ~is_ref & ~ambiguous & (eff.str.translate(comp) == ref)
    found = merged["col"].notna()
    use = found & (is_alt | is_ref | flip_alt | flip_ref)
    cols = merged.loc[use, "col"].astype(int).to_numpy()
    sign_alt = (is_alt | flip_alt)[use].to_numpy()
    wts = merged.loc[use, "effect_weight"].astype(float).to_numpy()
    d = np.asarray(dosage, dtype=np.float64)[:, cols]
    miss = np.isnan(d)
    means = np.where(miss.all(0), 0.0, np.nanmean(np.where(miss, np.nan, d), axis=0)) if d.size else np.zeros(0)
    d = np.where(miss, means, d)
    ploidy = np.full(d.shape, 2.0)
    if male is not None and "x_nonpar" in merged:
        xcols = merged.loc[use, "x_nonpar"].fillna(False).astype(bool).to_numpy()
        ploidy[np.ix_(np.asarray(male, bool), xcols)] = 1.0
    copies = np.where(sign_alt, d, ploidy - d)
    report = {
        "weights": len(w), "matched": int(use.sum()), "strand_flipped": int((flip_alt | flip_ref)[use].sum()),
        "unmatched_variant": int((~found).sum()), "unmatched_allele": int((found & ~use).sum()),
        "imputed_calls": int(miss.sum()),
    }  # fmt: skip
    return copies @ wts, report
