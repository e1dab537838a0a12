"""Latent patient traits of the simulator and the effect-modifier terms built from them.

Every drug's benefit and harm is a linear combination of *terms* (indicators such as
"CYP2C19 poor metaboliser" or centred continuous traits such as the PRS). Each term's
population mean is known in closed form from the distributions below (allele frequencies
under Hardy-Weinberg, normal CDFs), so the simulator can *state* the population ATE of
every drug exactly; :func:`term_means` computes it and the tests check it against samples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, ndtr

# ---------------------------------------------------------------- distributions
AGE_MEAN, AGE_SD = 62.0, 13.0
EGFR_INTERCEPT, EGFR_AGE_SLOPE, EGFR_NOISE_SD = 140.0, -1.2, 22.0
EGFR_MEAN = EGFR_INTERCEPT + EGFR_AGE_SLOPE * AGE_MEAN
EGFR_SD = float(np.hypot(EGFR_AGE_SLOPE * AGE_SD, EGFR_NOISE_SD))
QTC_MEAN = {"F": 425.0, "M": 415.0}
QTC_SD = 25.0
LONG_QT_MS = {"F": 470, "M": 450}  # prolonged QTc thresholds (ms), by sex
HR_MEAN, HR_SD = 72.0, 12.0
PREGNANCY_AGE, PREGNANCY_RATE = 45.0, 0.10

CYP2C19_ALLELES = {"*1": 0.63, "*2": 0.15, "*3": 0.01, "*17": 0.21}
CYP2C19_NO_FUNCTION = ("*2", "*3")
CYP2D6 = {"poor": 0.06, "intermediate": 0.10, "normal": 0.81, "ultrarapid": 0.03}
SLCO1B1_RS4149056_C = 0.15
CYP2C9 = {"normal": 0.65, "intermediate": 0.30, "poor": 0.05}
VKORC1_RS9923231_A = 0.40
HLA = {"HLA-B*57:01": 0.06, "HLA-B*58:01": 0.03, "HLA-B*15:02": 0.02}
HLA_A3101 = 0.03  # drawn from a spawned stream, so the other draws are those of earlier versions
TPMT = {"normal": 0.89, "intermediate": 0.10, "poor": 0.01}
NUDT15 = {"normal": 0.965, "intermediate": 0.03, "poor": 0.005}
DPYD = {"normal": 0.93, "intermediate": 0.065, "poor": 0.005}
G6PD_RS1050828_T = 0.05  # X-linked, subject to X-inactivation
TLR7_RS179008_T = 0.20  # X-linked, escapes X-inactivation
BINARY = {
    "diabetes": 0.25,
    "atrial_fibrillation": 0.15,
    "allergy_penicillin": 0.10,
    "allergy_sulfonamide": 0.03,
    "on_nsaid": 0.12,
    "on_clarithromycin": 0.04,
    "on_omeprazole": 0.20,
    "pgx_tested": 0.30,
}


def _categorical(rng, probs: dict[str, float], n: int) -> np.ndarray:
    return rng.choice(np.array(list(probs)), size=n, p=np.array(list(probs.values())))


def _cyp2c19_phenotype(a1: np.ndarray, a2: np.ndarray) -> np.ndarray:
    nf = np.isin(a1, CYP2C19_NO_FUNCTION).astype(int) + np.isin(a2, CYP2C19_NO_FUNCTION)
    inc = (a1 == "*17").astype(int) + (a2 == "*17")
    return np.select(
        [nf == 2, nf == 1, inc == 2, inc == 1],
        ["poor", "intermediate", "ultrarapid", "rapid"],
        default="normal",
    )


def draw_traits(
    n: int,
    rng: np.random.Generator,
    n_centres: int,
    *,
    female_share: float = 0.5,
    age_mean: float = AGE_MEAN,
    age_sd: float = AGE_SD,
    pregnancy_min_age: float = -np.inf,
) -> pd.DataFrame:
    """Draw the true (latent) traits of ``n`` patients; the hidden confounder ``u`` included.

    ``female_share``, ``age_mean``/``age_sd`` (``age_z`` and ``egfr_z`` are standardised with them) and the
    youngest age at which a woman can be pregnant describe the population; the defaults are
    the cardiometabolic cohort's, and other scenarios (:mod:`.autoimmune`) set their own.
    """
    female = rng.random(n) < female_share
    sex = np.where(female, "F", "M")
    age = rng.normal(age_mean, age_sd, n)
    egfr = EGFR_INTERCEPT + EGFR_AGE_SLOPE * age + rng.normal(0, EGFR_NOISE_SD, n)
    age_z = (age - age_mean) / age_sd
    egfr_mean = EGFR_INTERCEPT + EGFR_AGE_SLOPE * age_mean  # standardised within the population, as age
    egfr_sd = float(np.hypot(EGFR_AGE_SLOPE * age_sd, EGFR_NOISE_SD))
    traits = {
        "sex": sex,
        "age": age,
        "age_z": age_z,
        "egfr": egfr,
        "egfr_z": (egfr - egfr_mean) / egfr_sd,
        "weight_kg": rng.normal(np.where(female, 72.0, 84.0), 13.0),
        "centre": rng.choice(n_centres, size=n, p=np.linspace(1.5, 0.5, n_centres) / np.linspace(1.5, 0.5, n_centres).sum()),
        "u": rng.normal(0, 1, n),
        "heart_failure": rng.random(n) < expit(-2.2 + 0.5 * age_z),
        "hypertension": rng.random(n) < expit(-0.2 + 0.6 * age_z),
    }
    for name, p in BINARY.items():
        traits[name] = rng.random(n) < p
    traits["pregnant"] = female & (age >= pregnancy_min_age) & (age < PREGNANCY_AGE) & (rng.random(n) < PREGNANCY_RATE)
    qtc_mean = np.where(female, QTC_MEAN["F"], QTC_MEAN["M"])
    traits["qtc_ms"] = np.round(rng.normal(qtc_mean, QTC_SD)).astype(np.int64)
    traits["hr_bpm"] = rng.normal(HR_MEAN, HR_SD, n)
    traits["qrs_ms"] = rng.normal(95.0, 12.0, n)
    traits["gdf15_z"] = 0.4 * age_z + np.sqrt(1 - 0.16) * rng.normal(0, 1, n)
    traits["ntprobnp_z"] = 0.9 * traits["heart_failure"] + rng.normal(0, 1, n)
    # Pharmacogenes.
    alleles = np.array(list(CYP2C19_ALLELES))
    p = np.array(list(CYP2C19_ALLELES.values()))
    a1, a2 = rng.choice(alleles, size=n, p=p), rng.choice(alleles, size=n, p=p)
    rank = {"*1": 1, "*2": 2, "*3": 3, "*17": 17}
    first = np.vectorize(rank.get)(a1) <= np.vectorize(rank.get)(a2)
    lo, hi = np.where(first, a1, a2), np.where(first, a2, a1)
    traits["CYP2C19_diplotype"] = np.char.add(np.char.add(lo.astype(str), "/"), hi.astype(str))
    traits["CYP2C19"] = _cyp2c19_phenotype(a1, a2)
    traits["CYP2D6"] = _categorical(rng, CYP2D6, n)
    traits["rs4149056"] = rng.binomial(2, SLCO1B1_RS4149056_C, n)
    traits["CYP2C9"] = _categorical(rng, CYP2C9, n)
    traits["rs9923231"] = rng.binomial(2, VKORC1_RS9923231_A, n)
    for allele, freq in HLA.items():
        traits[allele] = rng.random(n) < freq
    traits["HLA-A*31:01"] = rng.spawn(1)[0].random(n) < HLA_A3101
    traits["TPMT"] = _categorical(rng, TPMT, n)
    traits["NUDT15"] = _categorical(rng, NUDT15, n)
    traits["DPYD"] = _categorical(rng, DPYD, n)
    copies = np.where(female, 2, 1)
    traits["rs1050828"] = rng.binomial(copies, G6PD_RS1050828_T)
    traits["rs179008"] = rng.binomial(copies, TLR7_RS179008_T)
    return pd.DataFrame(traits)


STRUCTURE_SEED = 20_261_124  # fixes the simulated "world" (allele frequencies, weights)


def draw_genotype_panel(
    n: int, rng: np.random.Generator, female: np.ndarray, n_autosomal: int, n_x: int
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """Random SNP panel: dosages (n, n_autosomal + n_x), variant annotation, standardised PRS.

    Allele frequencies and PRS weights are fixed across seeds (the same world); the PRS
    uses the first ``min(40, n_autosomal)`` autosomal SNPs and is standardised with its
    theoretical mean and variance under Hardy-Weinberg, so its population mean is 0.
    X-chromosome dosages are sex-aware: 0/1 in (hemizygous) men, 0/1/2 in women.
    """
    world = np.random.default_rng(STRUCTURE_SEED)
    maf = world.uniform(0.05, 0.5, n_autosomal + n_x)
    n_prs = min(40, n_autosomal)
    weights = world.normal(0, 1, n_prs)
    copies = np.where(female, 2, 1)
    dosage = np.empty((n, n_autosomal + n_x), dtype=np.int8)
    dosage[:, :n_autosomal] = rng.binomial(2, maf[:n_autosomal], size=(n, n_autosomal))
    dosage[:, n_autosomal:] = rng.binomial(copies[:, None], maf[n_autosomal:], size=(n, n_x))
    p = maf[:n_prs]
    if n_prs:
        prs = (dosage[:, :n_prs] - 2 * p) @ weights / np.sqrt(np.sum(weights**2 * 2 * p * (1 - p)))
    else:
        prs = np.zeros(n)
    variants = pd.DataFrame(
        {
            "variant_id": [f"snp{j:05d}" for j in range(n_autosomal)] + [f"xsnp{j:04d}" for j in range(n_x)],
            "chrom": [str(1 + j % 22) for j in range(n_autosomal)] + ["X"] * n_x,
            "pos": world.integers(1_000_000, 150_000_000, n_autosomal + n_x),
            "ref": "A",
            "alt": "G",
            "gene": "",
            "escapes_x_inactivation": False,
            "prs_weight": np.r_[weights, np.zeros(n_autosomal + n_x - n_prs)],
            "alt_frequency": maf,
        }
    )
    return dosage, variants, prs


def tlr7_expression(traits: pd.DataFrame) -> np.ndarray:
    """TLR7 expression: it escapes X-inactivation, so women express both X copies."""
    female = (traits["sex"] == "F").to_numpy()
    return np.where(female, 2.0, 1.0) + 0.5 * traits["rs179008"].to_numpy()


TLR7_MEAN = 0.5 * (1 + 0.5 * TLR7_RS179008_T) + 0.5 * (2 + 0.5 * 2 * TLR7_RS179008_T)


def g6pd_deficient(traits: pd.DataFrame) -> np.ndarray:
    """Hemizygous men with the variant, homozygous women (heterozygous women are mosaic)."""
    female = (traits["sex"] == "F").to_numpy()
    return traits["rs1050828"].to_numpy() == np.where(female, 2, 1)


def long_qt(traits: pd.DataFrame) -> np.ndarray:
    threshold = np.where(traits["sex"] == "F", LONG_QT_MS["F"], LONG_QT_MS["M"])
    return traits["qtc_ms"].to_numpy() > threshold


def warfarin_sensitive(traits: pd.DataFrame) -> np.ndarray:
    """CYP2C9 poor, or VKORC1 -1639 AA, or CYP2C9 intermediate with VKORC1 GA."""
    c, v = traits["CYP2C9"].to_numpy(), traits["rs9923231"].to_numpy()
    return (c == "poor") | (v == 2) | ((c == "intermediate") & (v == 1))


def terms(traits: pd.DataFrame) -> dict[str, np.ndarray]:
    """Effect-modifier terms (float arrays) named as in :func:`term_means`."""
    t = traits
    out = {
        "one": np.ones(len(t)),
        "age_z": t["age_z"].to_numpy(),
        "age_gt75": t["age"].to_numpy() > 75,
        "egfr_lt30": t["egfr"].to_numpy() < 30,
        "egfr_lt40": t["egfr"].to_numpy() < 40,
        "pregnant": t["pregnant"].to_numpy(),
        "long_qt": long_qt(t),
        "hr_z": (t["hr_bpm"].to_numpy() - HR_MEAN) / HR_SD,
        "gdf15_z": t["gdf15_z"].to_numpy(),
        "prs": t["prs"].to_numpy(),
        "tlr7_c": tlr7_expression(t) - TLR7_MEAN,
        "warfarin_sensitive": warfarin_sensitive(t),
        "slco1b1_poor": t["rs4149056"].to_numpy() == 2,
        "slco1b1_decreased": t["rs4149056"].to_numpy() == 1,
        "hla_b5701": t["HLA-B*57:01"].to_numpy(),
        "hla_b5801": t["HLA-B*58:01"].to_numpy(),
        "hla_b1502": t["HLA-B*15:02"].to_numpy(),
        "hla_a3101": t["HLA-A*31:01"].to_numpy(),
        "thiopurine_poor": (t["TPMT"] == "poor").to_numpy() | (t["NUDT15"] == "poor").to_numpy(),
        "tpmt_intermediate": (t["TPMT"] == "intermediate").to_numpy(),
        "dpyd_poor": (t["DPYD"] == "poor").to_numpy(),
        "dpyd_intermediate": (t["DPYD"] == "intermediate").to_numpy(),
        "g6pd_deficient": g6pd_deficient(t),
    }
    for level in ("poor", "intermediate", "rapid", "ultrarapid"):
        out[f"cyp2c19_{level}"] = (t["CYP2C19"] == level).to_numpy()
    for level in ("poor", "intermediate", "ultrarapid"):
        out[f"cyp2d6_{level}"] = (t["CYP2D6"] == level).to_numpy()
    for name in ("diabetes", "atrial_fibrillation", "allergy_penicillin", "allergy_sulfonamide", "on_nsaid", "on_clarithromycin"):
        out[name] = t[name].to_numpy()
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


def term_means() -> dict[str, float]:
    """Closed-form population mean of every term of :func:`terms`."""
    f0 = sum(CYP2C19_ALLELES[a] for a in CYP2C19_NO_FUNCTION)
    f1, f17 = CYP2C19_ALLELES["*1"], CYP2C19_ALLELES["*17"]
    q_slco = SLCO1B1_RS4149056_C
    q_vk = VKORC1_RS9923231_A
    vk = {0: (1 - q_vk) ** 2, 1: 2 * q_vk * (1 - q_vk), 2: q_vk**2}
    sensitive = sum(
        pc * pv
        for c, pc in CYP2C9.items()
        for v, pv in vk.items()
        if c == "poor" or v == 2 or (c == "intermediate" and v == 1)
    )
    long_qt_p = 0.5 * sum(1 - ndtr((LONG_QT_MS[s] + 0.5 - QTC_MEAN[s]) / QTC_SD) for s in ("F", "M"))
    q_g6pd = G6PD_RS1050828_T
    means = {
        "one": 1.0,
        "age_z": 0.0,
        "age_gt75": 1 - ndtr((75 - AGE_MEAN) / AGE_SD),
        "egfr_lt30": ndtr((30 - EGFR_MEAN) / EGFR_SD),
        "egfr_lt40": ndtr((40 - EGFR_MEAN) / EGFR_SD),
        "pregnant": 0.5 * ndtr((PREGNANCY_AGE - AGE_MEAN) / AGE_SD) * PREGNANCY_RATE,
        "long_qt": long_qt_p,
        "hr_z": 0.0,
        "gdf15_z": 0.0,
        "prs": 0.0,
        "tlr7_c": 0.0,
        "warfarin_sensitive": sensitive,
        "slco1b1_poor": q_slco**2,
        "slco1b1_decreased": 2 * q_slco * (1 - q_slco),
        "hla_b5701": HLA["HLA-B*57:01"],
        "hla_b5801": HLA["HLA-B*58:01"],
        "hla_b1502": HLA["HLA-B*15:02"],
        "hla_a3101": HLA_A3101,
        "thiopurine_poor": 1 - (1 - TPMT["poor"]) * (1 - NUDT15["poor"]),
        "tpmt_intermediate": TPMT["intermediate"],
        "dpyd_poor": DPYD["poor"],
        "dpyd_intermediate": DPYD["intermediate"],
        "g6pd_deficient": 0.5 * q_g6pd + 0.5 * q_g6pd**2,
        "cyp2c19_poor": f0**2,
        "cyp2c19_intermediate": 2 * f0 * (f1 + f17),
        "cyp2c19_rapid": 2 * f1 * f17,
        "cyp2c19_ultrarapid": f17**2,
        "cyp2d6_poor": CYP2D6["poor"],
        "cyp2d6_intermediate": CYP2D6["intermediate"],
        "cyp2d6_ultrarapid": CYP2D6["ultrarapid"],
    }
    for name in ("diabetes", "atrial_fibrillation", "allergy_penicillin", "allergy_sulfonamide", "on_nsaid", "on_clarithromycin"):
        means[name] = BINARY[name]
    return {k: float(v) for k, v in means.items()}
