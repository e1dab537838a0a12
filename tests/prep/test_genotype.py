import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from causalrx.exceptions import ValidationError
from causalrx.prep import GenotypeQC, diplotype_phenotype, genotype_counts, hwe_exact, polygenic_score


def exact_hwe_by_enumeration(aa: int, ab: int, bb: int) -> float:
    """Independent check: enumerate every heterozygote count with exact fractions."""
    n, r = aa + ab + bb, min(2 * aa + ab, 2 * bb + ab)
    c = 2 * n - r
    probs = {}
    for h in range(r % 2, r + 1, 2):
        hr, hc = (r - h) // 2, n - h - (r - h) // 2
        probs[h] = Fraction(math.factorial(n) * math.factorial(r) * math.factorial(c) * 2**h,
                            math.factorial(h) * math.factorial(hr) * math.factorial(hc) * math.factorial(2 * n))  # fmt: skip
    return float(sum(p for p in probs.values() if p <= probs[ab]))


def test_hwe_hand_checked_value():
    # 3 people, genotypes AA, BB, BB: het count 0 or 2; P(0) = 6*2*24 / (1*1*2*720) = 0.2 = p-value.
    assert hwe_exact(1, 0, 2)[0] == pytest.approx(0.2, rel=1e-12)


@pytest.mark.parametrize("counts", [(57, 14, 50), (100, 0, 100), (10, 80, 10), (3, 20, 900), (400, 400, 200), (21, 2, 1), (0, 1, 0), (5, 0, 0)])
def test_hwe_matches_enumeration(counts):
    assert hwe_exact(*counts)[0] == pytest.approx(exact_hwe_by_enumeration(*counts), rel=1e-9)


def test_hwe_is_calibrated_under_equilibrium():
    rng = np.random.default_rng(0)
    g = rng.multinomial(2000, [0.36, 0.48, 0.16], size=4000)
    p = hwe_exact(*g.T)
    assert abs(np.mean(p < 0.05) - 0.05) < 0.015  # exact test: at most nominal, close to it


def test_x_hwe_in_women_only_and_maf_counts_men_once():
    # 4 women (0/1/1/2) and 4 men (0/1 only): HWE on women only; alt copies 4 + 2, allele total 8 + 4.
    G = np.array([[0], [1], [1], [2], [0], [1], [1], [0]], dtype=np.int8)
    male = np.array([0, 0, 0, 0, 1, 1, 1, 1], bool)
    c = genotype_counts(G, x_nonpar=np.array([True]), male=male)
    np.testing.assert_array_equal(c.hwe_counts[0], [1, 2, 1])
    assert c.alt_copies[0] == 6 and c.allele_total[0] == 12
    assert c.maf[0] == pytest.approx(0.5)


def test_genotype_qc_filters_with_reasons():
    rng = np.random.default_rng(1)
    n = 2000
    G = rng.binomial(2, 0.3, size=(n, 6)).astype(np.int8)
    G[:, 1] = rng.binomial(2, 0.002, size=n)  # rare: MAF filter
    G[:, 2] = np.where(rng.random(n) < 0.5, 0, 2)  # no heterozygotes: HWE
    G[rng.random(n) < 0.1, 3] = -1  # 10% missing: call-rate filter
    G[:5, :] = -1  # five samples with no calls
    qc = GenotypeQC(min_variant_call_rate=0.95, min_sample_call_rate=0.9, min_maf=0.01, hwe_p=1e-6).fit(G)
    v = qc.variants_.set_index("variant_id")
    assert list(v["reason"]) == ["", "maf", "hwe", "call_rate", "", ""]
    assert qc.samples_["keep"].sum() == n - 5
    assert qc.transform(G).shape == (n, 3)
    with pytest.raises(ValidationError, match="min_maf"):
        GenotypeQC(min_maf=0.7).fit(G)


def test_cpic_table_reproduces_simulated_phenotypes(small_sim):
    g = small_sim.cohort.genomics
    np.testing.assert_array_equal(diplotype_phenotype("CYP2C19", g["CYP2C19_diplotype"]), g["CYP2C19"].to_numpy())
    # CYP2D6 by activity score: *1/*4 = 1 (IM), *1x2/*2 = 3 (UM), *4/*5 = 0 (PM), *10/*10 = 0.5 (IM).
    assert list(diplotype_phenotype("CYP2D6", ["*1/*4", "*1x2/*2", "*4/*5", "*10/*10", "*1/*2"])) == [
        "intermediate", "ultrarapid", "poor", "intermediate", "normal"]  # fmt: skip
    with pytest.raises(ValidationError, match=r"CYP2C19: allele '\*99' is not in the CPIC allele table"):
        diplotype_phenotype("CYP2C19", ["*1/*99"])


def test_polygenic_score_aligns_alleles():
    variants = pd.DataFrame({"variant_id": ["a", "b", "c"], "chrom": ["1"] * 3, "pos": [1, 2, 3], "ref": ["A", "C", "G"], "alt": ["G", "T", "A"]})
    dosage = np.array([[0, 1, 2], [2, np.nan, 1]], dtype=float)
    weights = pd.DataFrame({"variant_id": ["a", "b", "c", "zz"], "effect_allele": ["G", "C", "T", "A"], "effect_weight": [1.0, 2.0, 5.0, 9.0]})
    score, report = polygenic_score(dosage, variants, weights)
    # a: effect = ALT -> dosage; b: effect = REF -> 2 - dosage (missing -> mean 1); c: 'T' is the
    # complement of ALT 'A' but A/G is not ambiguous -> strand flip, counted as ALT.
    np.testing.assert_allclose(score, [0 * 1 + (2 - 1) * 2 + 2 * 5, 2 * 1 + (2 - 1) * 2 + 1 * 5])
    assert report == {"weights": 4, "matched": 3, "strand_flipped": 1, "unmatched_variant": 1, "unmatched_allele": 0, "imputed_calls": 1}


def test_cpic_phenotype_tables_of_the_2022_updates_and_activity_scores():
    from causalrx.prep import diplotype_activity

    # CYP2C19 (clopidogrel 2022): decreased-function alleles give "likely" phenotypes
    assert list(diplotype_phenotype("CYP2C19", ["*9/*9", "*1/*9", "*9/*17", "*2/*9", "*1/*2", "*2/*2"])) == [
        "likely intermediate", "likely intermediate", "likely intermediate", "likely poor", "intermediate", "poor"]  # fmt: skip
    # SLCO1B1 (statins 2022): one no-function allele is decreased, two are poor, *14 is increased
    assert list(diplotype_phenotype("SLCO1B1", ["*1/*5", "*5/*15", "*14/*14", "*1/*14"])) == [
        "decreased function", "poor function", "increased function", "normal function"]  # fmt: skip
    assert list(diplotype_phenotype("CYP3A5", ["*1/*1", "*1/*3", "*3/*3"])) == ["normal", "intermediate", "poor"]
    assert list(diplotype_phenotype("UGT1A1", ["*28/*28", "*1/*28"])) == ["poor", "intermediate"]
    np.testing.assert_array_equal(diplotype_activity("DPYD", ["*1/c.2846A>T", "*1/*2A", "*2A/HapB3", None]), [1.5, 1.0, 0.5, np.nan])
    np.testing.assert_array_equal(diplotype_activity("CYP2C9", ["*1/*2", "*1/*3", "*2/*3", "*1/*1"]), [1.5, 1.0, 0.5, 2.0])
    with pytest.raises(ValidationError, match="TPMT: not scored by activity"):
        diplotype_activity("TPMT", ["*1/*1"])
