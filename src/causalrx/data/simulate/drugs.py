"""The simulator's drug catalogue: how each drug's benefit and harm depend on the patient.

A stylised pharmacological sandbox, not a clinical model. ``benefit`` is the drug's
effect on the efficacy score versus standard care; ``harm`` is the increase in the
probability of an adverse event. Both are linear in the terms of
:mod:`causalrx.data.simulate.traits`, which is what makes the population ATE exact.
``avoid`` lists the terms under which the drug is truly contraindicated (the harm a
safety rule should prevent); ``indication`` drives the simulated clinicians' choices.

With the default six drugs, effect modifiers sit in every modality: genomics (CYP2C19,
SLCO1B1, PRS, CYP2C9/VKORC1), proteomics (GDF15), ECG (heart rate, QTc) and clinical
(diabetes, atrial fibrillation, eGFR, pregnancy, co-medication). X-linked TLR7, which
escapes X-inactivation, raises the baseline adverse-event risk more in women.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from causalrx.data.simulate.traits import STRUCTURE_SEED


@dataclass(frozen=True)
class DrugSpec:
    name: str
    benefit: dict[str, float]
    harm: dict[str, float]
    avoid: tuple[str, ...] = ()
    indication: dict[str, float] = field(default_factory=dict)


REFERENCE = DrugSpec("standard_care", benefit={}, harm={})

CATALOGUE: tuple[DrugSpec, ...] = (
    DrugSpec(
        "clopidogrel",
        benefit={"one": 0.6, "cyp2c19_poor": -0.6, "cyp2c19_intermediate": -0.3, "cyp2c19_rapid": 0.06, "cyp2c19_ultrarapid": 0.12},
        harm={"one": 0.03, "age_gt75": 0.04, "on_nsaid": 0.06},
        avoid=("cyp2c19_poor",),
        indication={"age_z": 0.6, "hypertension": 0.4},
    ),
    DrugSpec(
        "simvastatin",
        benefit={"one": 0.4, "prs": 0.3},
        harm={"one": 0.01, "slco1b1_poor": 0.3, "slco1b1_decreased": 0.08, "on_clarithromycin": 0.2},
        avoid=("slco1b1_poor", "on_clarithromycin"),
        indication={"diabetes": 0.8, "hypertension": 0.5},
    ),
    DrugSpec(
        "metformin",
        benefit={"one": 0.5, "gdf15_z": 0.35, "diabetes": 0.3},
        harm={"one": 0.01, "egfr_lt30": 0.35},
        avoid=("egfr_lt30",),
        indication={"one": -1.0, "diabetes": 2.0},
    ),
    DrugSpec(
        "sotalol",
        benefit={"one": 0.45, "hr_z": 0.35, "atrial_fibrillation": 0.3},
        harm={"one": 0.02, "long_qt": 0.4, "egfr_lt40": 0.15},
        avoid=("long_qt", "egfr_lt40"),
        indication={"one": -0.5, "atrial_fibrillation": 1.5},
    ),
    DrugSpec(
        "warfarin",
        benefit={"one": 0.4, "atrial_fibrillation": 0.5},
        harm={"one": 0.03, "warfarin_sensitive": 0.15, "on_nsaid": 0.1, "pregnant": 0.3, "age_gt75": 0.04},
        avoid=("pregnant",),
        indication={"one": -0.6, "atrial_fibrillation": 1.8},
    ),
    DrugSpec("allopurinol", benefit={"one": 0.3, "age_z": -0.1}, harm={"one": 0.01, "hla_b5801": 0.5, "egfr_lt30": 0.1}, avoid=("hla_b5801",)),
    DrugSpec(
        "carbamazepine", benefit={"one": 0.35}, harm={"one": 0.02, "hla_b1502": 0.5, "hla_a3101": 0.3}, avoid=("hla_b1502", "hla_a3101")
    ),
    DrugSpec("abacavir", benefit={"one": 0.4}, harm={"one": 0.01, "hla_b5701": 0.55}, avoid=("hla_b5701",)),
    DrugSpec(
        "codeine",
        benefit={"one": 0.3, "cyp2d6_poor": -0.3, "cyp2d6_intermediate": -0.12},
        harm={"one": 0.02, "cyp2d6_ultrarapid": 0.45},
        avoid=("cyp2d6_ultrarapid", "cyp2d6_poor"),
    ),
    DrugSpec("hydroxychloroquine", benefit={"one": 0.25, "tlr7_c": 0.4}, harm={"one": 0.01, "long_qt": 0.3}, avoid=("long_qt",)),
    DrugSpec("amoxicillin", benefit={"one": 0.3}, harm={"one": 0.01, "allergy_penicillin": 0.6}, avoid=("allergy_penicillin",)),
    DrugSpec(
        "azathioprine",
        benefit={"one": 0.4},
        harm={"one": 0.02, "thiopurine_poor": 0.55, "tpmt_intermediate": 0.15},
        avoid=("thiopurine_poor",),
    ),
    DrugSpec(
        "fluorouracil",
        benefit={"one": 0.5},
        harm={"one": 0.03, "dpyd_poor": 0.55, "dpyd_intermediate": 0.2},
        avoid=("dpyd_poor",),
    ),
    DrugSpec("rasburicase", benefit={"one": 0.3}, harm={"one": 0.01, "g6pd_deficient": 0.6}, avoid=("g6pd_deficient",)),
    DrugSpec(
        "co_trimoxazole",
        benefit={"one": 0.3},
        harm={"one": 0.01, "allergy_sulfonamide": 0.6, "egfr_lt30": 0.1},
        avoid=("allergy_sulfonamide",),
    ),
)

_GENERIC_MODIFIERS = ("age_z", "hr_z", "gdf15_z", "prs", "tlr7_c", "diabetes")
_GENERIC_HARMS = ("egfr_lt40", "long_qt", "on_nsaid", "age_gt75")


def _generic(index: int) -> DrugSpec:
    world = np.random.default_rng(STRUCTURE_SEED + index)
    modifier = _GENERIC_MODIFIERS[world.integers(len(_GENERIC_MODIFIERS))]
    harm = _GENERIC_HARMS[world.integers(len(_GENERIC_HARMS))]
    return DrugSpec(
        f"drug_{index:02d}",
        benefit={"one": float(world.uniform(0.2, 0.5)), modifier: float(world.uniform(-0.3, 0.3))},
        harm={"one": 0.02, harm: float(world.uniform(0.05, 0.2))},
    )


def drug_specs(n_drugs: int) -> tuple[DrugSpec, ...]:
    """The reference arm plus ``n_drugs - 1`` drugs: the named catalogue first, then generic ones."""
    if n_drugs < 2:
        raise ValueError(f"n_drugs must be >= 2 (the reference arm and at least one drug), got {n_drugs}")
    named = CATALOGUE[: n_drugs - 1]
    generic = tuple(_generic(i) for i in range(len(named) + 1, n_drugs))
    return (REFERENCE,) + named + generic


def coefficient_matrix(specs, attribute: str, term_names: list[str]) -> np.ndarray:
    """Array (n_terms, k): the coefficient of each term in each drug's ``benefit`` or ``harm``."""
    index = {t: i for i, t in enumerate(term_names)}
    out = np.zeros((len(term_names), len(specs)))
    for a, spec in enumerate(specs):
        for term, coef in getattr(spec, attribute).items():
            out[index[term], a] = coef
    return out
