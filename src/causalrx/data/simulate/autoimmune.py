"""Autoimmune scenarios of the simulator: sex-biased diseases driven by X-escape gene dosage.

Some X-chromosome genes escape X-inactivation (TLR7 and KDM6A among them), so women
express part of their second copy: one explanation of the female excess in autoimmune
disease. ``simulate_cohort(scenario="lupus" | "vkh" | "kawasaki")`` (``"autoimmune"`` is
``"lupus"``) draws a cohort of patients with a stylised version of one such disease, with
its own sex ratio and ages, and three drugs modelled on its standard of care against
``standard_care``. It is a methodological sandbox, not a clinical model.

**X-escape dosage.** For an escape gene with risk-allele frequency ``q``, escape fraction
``e`` (share of the inactive copy that is still expressed) and gain ``g`` (extra activity
per expressed risk allele), with genotype ``d`` coded sex-aware (0/1 in hemizygous men,
0/1/2 in women)::

    activity(men)   = 1 + g d
    activity(women) = (1 + e) (1 + g d / 2)

Each of a woman's alleles sits on the active X in half her cells and on the partly
escaping inactive X in the other half, hence ``(1 + e) d / 2`` expressed risk alleles.
So women have more activity at every genotype, and a risk allele adds ``g`` in a man but
``g (1 + e) / 2`` in a heterozygous woman: sex and genotype interact. ``tlr7_x`` and
``kdm6a_x`` are the activities centred at their population mean.

**Disease activity** (a SLEDAI-like latent score, recorded in ``clinical.disease_activity``
as ``10 + 4 * activity``)::

    activity = 0.6 tlr7_x + 0.4 kdm6a_x + 0.3 (oestrogen - E[oestrogen]) + N(0, 0.8^2)

with ``oestrogen`` = woman aged 12-50. Clinicians treat more active disease more
aggressively (and give the biologic more often to women), and activity worsens prognosis,
so sex, genotype and activity confound.

**Ground truth by subgroup.** Every drug's benefit and harm are linear in the terms below,
and every term's mean given (sex, TLR7 genotype) is known in closed form, so
:func:`true_subgroup_effects` states the population GATE of each drug in each
sex x TLR7-genotype cell (and the population ATE is their weighted sum).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr

from causalrx.data.simulate import traits as tr
from causalrx.data.simulate.drugs import REFERENCE, DrugSpec
from causalrx.exceptions import ValidationError

OESTROGEN_AGES = (12.0, 50.0)
PREGNANCY_MIN_AGE = 16.0
ACTIVITY_WEIGHTS = {"tlr7_x": 0.6, "kdm6a_x": 0.4, "oestrogen": 0.3}
ACTIVITY_NOISE_SD = 0.8
PROGNOSIS_PER_ACTIVITY = -0.4


@dataclass(frozen=True)
class XEscapeGene:
    """An X-linked gene that escapes X-inactivation, with one functional risk variant."""

    gene: str
    variant_id: str
    allele_frequency: float
    escape: float
    gain: float

    def activity(self, female: np.ndarray, dosage: np.ndarray) -> np.ndarray:
        """Gene activity from sex and the sex-aware dosage (0/1 men, 0/1/2 women)."""
        female = np.asarray(female, dtype=bool)
        d = np.asarray(dosage, dtype=float)
        return np.where(female, (1 + self.escape) * (1 + self.gain * d / 2), 1 + self.gain * d)

    def mean_activity(self, female: bool) -> float:
        """E[activity | sex] under Hardy-Weinberg (a woman carries 2q risk alleles on average)."""
        base = 1 + self.gain * self.allele_frequency
        return float((1 + self.escape) * base if female else base)

    def genotype_probabilities(self, female: bool) -> dict[int, float]:
        q = self.allele_frequency
        return {0: (1 - q) ** 2, 1: 2 * q * (1 - q), 2: q**2} if female else {0: 1 - q, 1: q}


TLR7 = XEscapeGene("TLR7", "rs179008", tr.TLR7_RS179008_T, escape=0.3, gain=0.6)
KDM6A = XEscapeGene("KDM6A", "kdm6a_v1", 0.30, escape=0.6, gain=0.5)


@dataclass(frozen=True)
class DiseaseProfile:
    """Who has the disease (sex ratio, ages) and the drugs modelled on its standard of care."""

    name: str
    label: str
    female_share: float
    age_mean: float
    age_sd: float
    recorded_age: tuple[float, float]
    drugs: tuple[DrugSpec, ...]


_STEROID_HARM = {"one": 0.05, "diabetes": 0.15, "age_gt65": 0.1}
DISEASES: dict[str, DiseaseProfile] = {
    "lupus": DiseaseProfile(
        "lupus", "systemic lupus erythematosus-like (about 9 women to 1 man)", 0.9, 38.0, 12.0, (16.0, 90.0),
        (
            DrugSpec("hydroxychloroquine", benefit={"one": 0.35, "tlr7_x": 1.0}, harm={"one": 0.01, "long_qt": 0.3},
                     avoid=("long_qt",), indication={"one": 0.8}),
            DrugSpec("belimumab", benefit={"one": 0.3, "kdm6a_x": 0.5, "oestrogen": 0.3}, harm={"one": 0.03, "age_gt65": 0.08},
                     avoid=("pregnant",), indication={"one": -0.8, "activity": 1.0, "female": 0.4}),
            DrugSpec("prednisone", benefit={"one": 0.45, "activity": 0.3}, harm=_STEROID_HARM, indication={"one": -0.2, "activity": 0.8}),
        ),
    ),
    "vkh": DiseaseProfile(
        "vkh", "Vogt-Koyanagi-Harada-like (about 1.2 women to 1 man)", 0.55, 38.0, 12.0, (16.0, 90.0),
        (
            DrugSpec("prednisone", benefit={"one": 0.6, "activity": 0.25}, harm=_STEROID_HARM, indication={"one": 0.8, "activity": 0.5}),
            DrugSpec("cyclosporine", benefit={"one": 0.4, "kdm6a_x": 0.4}, harm={"one": 0.03, "egfr_lt60": 0.25},
                     avoid=("egfr_lt30",), indication={"one": -0.5, "activity": 0.6}),
            DrugSpec("adalimumab", benefit={"one": 0.45, "tlr7_x": 0.6, "female": -0.15}, harm={"one": 0.03, "age_gt65": 0.05},
                     indication={"one": -0.8, "activity": 0.8}),
        ),
    ),
    "kawasaki": DiseaseProfile(
        "kawasaki", "Kawasaki-like, in young children (about 1 girl to 1.5 boys)", 0.4, 3.0, 1.5, (0.2, 17.0),
        (
            DrugSpec("ivig", benefit={"one": 0.7, "activity": 0.2, "tlr7_x": -0.4}, harm={"one": 0.02}, indication={"one": 1.5}),
            DrugSpec("infliximab", benefit={"one": 0.5, "tlr7_x": 0.6}, harm={"one": 0.03}, indication={"one": -0.5, "activity": 0.8}),
            DrugSpec("prednisolone", benefit={"one": 0.45, "kdm6a_x": 0.3, "activity": 0.2}, harm={"one": 0.04, "diabetes": 0.1},
                     indication={"one": -0.5, "activity": 0.6}),
        ),
    ),
}  # fmt: skip
SCENARIOS = ("cardiometabolic", "autoimmune", *DISEASES)


def profile(scenario: str) -> DiseaseProfile | None:
    """The disease profile of ``scenario`` (None for the default cardiometabolic cohort)."""
    if scenario not in SCENARIOS:
        raise ValidationError(f"simulate_cohort: scenario must be one of {SCENARIOS}, got {scenario!r}")
    if scenario == "cardiometabolic":
        return None
    return DISEASES["lupus" if scenario == "autoimmune" else scenario]


def drug_specs(prof: DiseaseProfile, n_drugs: int) -> tuple[DrugSpec, ...]:
    if not 2 <= n_drugs <= 1 + len(prof.drugs):
        raise ValidationError(f"simulate_cohort: n_drugs must be in 2..{1 + len(prof.drugs)} for scenario {prof.name!r}, got {n_drugs}")
    return (REFERENCE,) + prof.drugs[: n_drugs - 1]


def draw_traits(n: int, rng: np.random.Generator, n_centres: int, prof: DiseaseProfile) -> pd.DataFrame:
    """The common traits with the disease's sex ratio and ages, plus KDM6A, the X-escape
    activities, oestrogen exposure and disease activity (all latent; see the module text)."""
    traits = tr.draw_traits(n, rng, n_centres, female_share=prof.female_share, age_mean=prof.age_mean, age_sd=prof.age_sd,
                            pregnancy_min_age=PREGNANCY_MIN_AGE)  # fmt: skip
    female = (traits["sex"] == "F").to_numpy()
    age = traits["age"].to_numpy()
    traits[KDM6A.variant_id] = rng.binomial(np.where(female, 2, 1), KDM6A.allele_frequency)
    means = _population_activity(prof)
    traits["female"] = female.astype(float)
    traits["tlr7_x"] = TLR7.activity(female, traits[TLR7.variant_id].to_numpy()) - means["tlr7_x"]
    traits["kdm6a_x"] = KDM6A.activity(female, traits[KDM6A.variant_id].to_numpy()) - means["kdm6a_x"]
    traits["oestrogen"] = (female & (age >= OESTROGEN_AGES[0]) & (age < OESTROGEN_AGES[1])).astype(float)
    traits["activity"] = _expected_activity(traits["tlr7_x"], traits["kdm6a_x"], traits["oestrogen"], prof) + rng.normal(0, ACTIVITY_NOISE_SD, n)
    return traits


def terms(traits: pd.DataFrame) -> dict[str, np.ndarray]:
    """The scenario's own terms, added to :func:`.traits.terms`."""
    out = {name: traits[name].to_numpy(dtype=float) for name in ("female", "tlr7_x", "kdm6a_x", "oestrogen", "activity")}
    out["age_gt65"] = (traits["age"].to_numpy() > 65).astype(float)
    out["egfr_lt60"] = (traits["egfr"].to_numpy() < 60).astype(float)
    return out


# ------------------------------------------------------------------ closed forms
def _age_share(prof: DiseaseProfile, lo: float, hi: float) -> float:
    return float(ndtr((hi - prof.age_mean) / prof.age_sd) - ndtr((lo - prof.age_mean) / prof.age_sd))


def _oestrogen_share(prof: DiseaseProfile) -> float:
    return _age_share(prof, *OESTROGEN_AGES)


def _expected_activity(tlr7_x, kdm6a_x, oestrogen, prof: DiseaseProfile):
    """Disease activity without its noise: the one formula behind the draws and the closed-form cell means."""
    w = ACTIVITY_WEIGHTS
    return w["tlr7_x"] * tlr7_x + w["kdm6a_x"] * kdm6a_x + w["oestrogen"] * (oestrogen - prof.female_share * _oestrogen_share(prof))


def _population_activity(prof: DiseaseProfile) -> dict[str, float]:
    f = prof.female_share
    return {f"{g.gene.lower()}_x": f * g.mean_activity(True) + (1 - f) * g.mean_activity(False) for g in (TLR7, KDM6A)}


def cell_term_means(prof: DiseaseProfile, female: bool, tlr7_dosage: int) -> dict[str, float]:
    """E[term | sex, TLR7 dosage] for every term a scenario drug uses, in closed form."""
    pop = _population_activity(prof)
    egfr_mean = tr.EGFR_INTERCEPT + tr.EGFR_AGE_SLOPE * prof.age_mean
    egfr_sd = float(np.hypot(tr.EGFR_AGE_SLOPE * prof.age_sd, tr.EGFR_NOISE_SD))
    sex = "F" if female else "M"
    oestrogen = float(female) * _oestrogen_share(prof)
    tlr7_x = float(TLR7.activity(np.array([female]), np.array([tlr7_dosage]))[0]) - pop["tlr7_x"]
    kdm6a_x = KDM6A.mean_activity(female) - pop["kdm6a_x"]
    return {
        "one": 1.0,
        "female": float(female),
        "tlr7_x": tlr7_x,
        "kdm6a_x": kdm6a_x,
        "oestrogen": oestrogen,
        "activity": _expected_activity(tlr7_x, kdm6a_x, oestrogen, prof),
        "age_z": 0.0,
        "age_gt65": float(1 - ndtr((65 - prof.age_mean) / prof.age_sd)),
        "egfr_lt60": float(ndtr((60 - egfr_mean) / egfr_sd)),
        "egfr_lt30": float(ndtr((30 - egfr_mean) / egfr_sd)),
        "long_qt": float(1 - ndtr((tr.LONG_QT_MS[sex] + 0.5 - tr.QTC_MEAN[sex]) / tr.QTC_SD)),
        "pregnant": float(female) * tr.PREGNANCY_RATE * _age_share(prof, PREGNANCY_MIN_AGE, tr.PREGNANCY_AGE),
        "diabetes": tr.BINARY["diabetes"],
    }


def cells(prof: DiseaseProfile) -> list[tuple[str, int, float]]:
    """(sex, TLR7 dosage, population share) of every sex x TLR7-genotype cell."""
    out = []
    for female, share in ((False, 1 - prof.female_share), (True, prof.female_share)):
        for d, p in TLR7.genotype_probabilities(female).items():
            out.append(("F" if female else "M", d, share * p))
    return out


def population_term_means(prof: DiseaseProfile) -> dict[str, float]:
    """E[term] over the disease population: the cells' means weighted by their shares."""
    total: dict[str, float] = {}
    for sex, d, share in cells(prof):
        for name, value in cell_term_means(prof, sex == "F", d).items():
            total[name] = total.get(name, 0.0) + share * value
    return total


def true_subgroup_effects(prof: DiseaseProfile, specs, harm_weight: float) -> pd.DataFrame:
    """Population GATE of every drug versus the reference in every sex x TLR7-genotype cell.

    Columns: ``sex``, ``tlr7_dosage`` (sex-aware: 0/1 men, 0/1/2 women), ``share`` of the
    population, ``drug``, ``efficacy`` (benefit), ``adverse`` (change in adverse-event
    probability) and ``net`` = efficacy - harm_weight * adverse.
    """
    rows = []
    for sex, d, share in cells(prof):
        means = cell_term_means(prof, sex == "F", d)
        for spec in specs[1:]:
            efficacy = sum(c * means[t] for t, c in spec.benefit.items())
            adverse = sum(c * means[t] for t, c in spec.harm.items())
            rows.append({"sex": sex, "tlr7_dosage": d, "share": share, "drug": spec.name, "efficacy": efficacy,
                         "adverse": adverse, "net": efficacy - harm_weight * adverse})  # fmt: skip
    return pd.DataFrame(rows)
