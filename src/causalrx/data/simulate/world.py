"""Outcome model, clinician (logging) policy and visit dynamics of the simulator.

One-step outcomes (visit 0, severity 0)::

    efficacy(a)      = mu0(x) + benefit_a(x) + eps                  eps ~ N(0, 1), shared by all arms
    P(adverse | a)   = base_risk(x) + harm_a(x)                     coupled draws: AE(a) = U < P(AE | a)
    reward(a)        = efficacy(a) - harm_weight * adverse(a)

Multi-visit episodes add a latent disease severity ``s_t`` (``s_0 = 0``)::

    efficacy_t       = mu0(x) - s_t + benefit_{a_t}(x) + eps_t
    s_{t+1}          = rho * s_t + (1 - rho) * drift(x) - kappa * benefit_{a_t}(x) + eta * AE_t + 0.3 * xi_t

so a drug's benefit persists and an adverse event worsens the future. Clinicians see a
noisy severity ``s_t + N(0, 0.2)``, keep the previous drug by habit, and choose with
``softmax(logits / overlap)``, where the covariate-dependent part of the logits (centre
habits, indications, sicker-get-treated, avoidance of *known* contraindications) is
scaled by ``confounding`` and the hidden confounder ``u`` enters with weight
``hidden_confounding``. ``u`` always worsens prognosis, so it confounds as soon as
clinicians act on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, softmax

from causalrx.data.simulate.traits import STRUCTURE_SEED

RHO, KAPPA, ETA, DRIFT_SCALE = 0.7, 0.5, 0.8, 1.0
SEVERITY_NOISE, SEVERITY_OBS_NOISE = 0.3, 0.2
STICKINESS = 1.5
CLINICIAN_FEATURES = ("one", "age_z", "egfr_z", "diabetes", "atrial_fibrillation", "hypertension", "heart_failure")
PGX_TERMS = frozenset(
    {
        "cyp2c19_poor", "cyp2d6_poor", "cyp2d6_ultrarapid", "slco1b1_poor", "hla_b5701", "hla_b5801",
        "hla_b1502", "hla_a3101", "thiopurine_poor", "dpyd_poor", "g6pd_deficient",
    }
)


def centre_effects(n_centres: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed centre effect on prognosis (n_centres,) and centre prescribing habits (n_centres, k)."""
    world = np.random.default_rng(STRUCTURE_SEED - 1)
    prognosis = world.normal(0, 0.3, n_centres)
    habits = world.normal(0, 0.5, (n_centres, k))
    habits[:, 0] = 0.0
    return prognosis, habits


def baseline_prognosis(traits, centre_prognosis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mu0 including the hidden confounder, the part of mu0 clinicians can see)."""
    observed = (
        0.5
        - 0.35 * traits["age_z"].to_numpy()
        + 0.25 * traits["egfr_z"].to_numpy()
        - 0.4 * traits["diabetes"].to_numpy()
        - 0.5 * traits["heart_failure"].to_numpy()
        + centre_prognosis[traits["centre"].to_numpy()]
    )
    return observed - 0.5 * traits["u"].to_numpy(), observed


def base_adverse_risk(traits, tlr7_centred: np.ndarray) -> np.ndarray:
    """Adverse-event probability under standard care, in [0.02, 0.22]; higher with TLR7 dosage."""
    lin = -1.5 + 0.4 * traits["age_z"].to_numpy() + 0.8 * tlr7_centred + 0.5 * (traits["egfr"].to_numpy() < 60)
    return 0.02 + 0.2 * expit(lin)


def disease_risk(traits, term: dict[str, np.ndarray]) -> np.ndarray:
    """Probability of the incident ``disease`` event over follow-up, whatever the drug.

    A pre-treatment risk label for the risk models of :mod:`causalrx.encoders`: every
    modality carries part of it (clinical age and diabetes; genomic PRS and TLR7 dosage;
    proteins NT-proBNP and GDF-15; ECG long QT and heart rate), so a model that sees one
    modality only loses discrimination.
    """
    lin = (
        -1.8
        + 0.5 * traits["age_z"].to_numpy() + 0.6 * traits["diabetes"].to_numpy()
        + 0.7 * term["prs"] + 0.6 * term["tlr7_c"]
        + 0.8 * traits["ntprobnp_z"].to_numpy() + 0.5 * term["gdf15_z"]
        + 1.5 * term["long_qt"] + 0.4 * term["hr_z"]
    )  # fmt: skip
    return expit(lin)


def disease_drift(traits) -> np.ndarray:
    return DRIFT_SCALE * (
        0.3 * traits["age_z"].to_numpy()
        + 0.3 * traits["diabetes"].to_numpy()
        + 0.3 * traits["heart_failure"].to_numpy()
        + 0.3 * traits["u"].to_numpy()
    )


def indication_logits(specs, traits) -> np.ndarray:
    """Each drug's indication logits; a feature is ``one`` or any column of ``traits``."""
    out = np.zeros((len(traits), len(specs)))
    for a, spec in enumerate(specs):
        weights = spec.indication
        if a > 0 and not weights and spec.name.startswith("drug_"):
            world = np.random.default_rng(STRUCTURE_SEED + 1000 + a)
            weights = {f: float(world.normal(0, 0.4)) for f in CLINICIAN_FEATURES[1:4]}
        for feature, w in weights.items():
            out[:, a] += w * (1.0 if feature == "one" else traits[feature].to_numpy().astype(float))
    return out


@dataclass(frozen=True)
class ClinicianPolicy:
    """The simulated clinicians: static logits plus severity, habit and overlap terms."""

    static_logits: np.ndarray  # (n, k)
    confounding: float
    overlap: float

    def distribution(self, severity_obs: np.ndarray, previous: np.ndarray | None, rows=slice(None)) -> np.ndarray:
        logits = self.static_logits[rows].copy()
        logits[:, 1:] += self.confounding * (-0.8 * severity_obs)[:, None]
        if previous is not None:
            logits[np.arange(len(previous)), previous] += STICKINESS
        return softmax(logits / self.overlap, axis=1)


def clinician_policy(
    specs, traits, contraindicated, known, mu0_observed, centre_habits, *, confounding, overlap, hidden_confounding, adherence
) -> ClinicianPolicy:
    k = len(specs)
    active = (np.arange(k) > 0).astype(float)
    prior = 1.0 - active
    sicker = -0.8 * (mu0_observed - 0.5)
    covariate_part = (
        centre_habits[traits["centre"].to_numpy()]
        + indication_logits(specs, traits)
        + sicker[:, None] * active
        - adherence * (contraindicated & known)
    )
    hidden = 0.8 * traits["u"].to_numpy()[:, None] * active
    static = prior + confounding * covariate_part + hidden_confounding * hidden
    return ClinicianPolicy(static_logits=static, confounding=confounding, overlap=overlap)


def sample_categorical(dist: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of a (n, k) probability matrix (inverse-CDF, vectorised)."""
    u = rng.random((len(dist), 1))
    return np.minimum((dist.cumsum(axis=1) < u).sum(axis=1), dist.shape[1] - 1)


def run_episodes(choose, mu0, benefit, adverse_prob, drift, horizon, harm_weight, rng, gamma=1.0):
    """Roll the visit dynamics forward for every patient under ``choose``.

    ``choose(t, severity_obs, previous) -> (n, k)`` gives the action distribution at visit
    ``t``. Returns a dict of (n, horizon) arrays: the chosen ``action``, the ``propensity``
    of that action under ``choose``, ``efficacy``, ``adverse_event``, ``reward``,
    ``severity`` (latent), ``severity_obs``, the outcome noise ``eps`` and adverse-event
    uniforms ``uniform`` (shared by all arms, which defines the potential outcomes), plus ``expected_return`` (n,): the
    discounted sum of per-visit expected rewards under the full distribution.
    """
    n, k = benefit.shape
    rows = np.arange(n)
    s = np.zeros(n)
    previous = None
    rec = {key: np.empty((n, horizon)) for key in ("propensity", "efficacy", "reward", "severity", "severity_obs", "eps", "uniform")}
    rec["action"] = np.empty((n, horizon), dtype=np.int64)
    rec["adverse_event"] = np.empty((n, horizon), dtype=np.int8)
    expected_return = np.zeros(n)
    for t in range(horizon):
        severity_obs = s + rng.normal(0, SEVERITY_OBS_NOISE, n)
        dist = choose(t, severity_obs, previous)
        a = sample_categorical(dist, rng)
        uniform, eps = rng.random(n), rng.normal(0, 1, n)
        ae = uniform < adverse_prob[rows, a]
        efficacy = mu0 - s + benefit[rows, a] + eps
        expected = (mu0 - s)[:, None] + benefit - harm_weight * adverse_prob
        expected_return += gamma**t * (dist * expected).sum(axis=1)
        rec["action"][:, t] = a
        rec["propensity"][:, t] = dist[rows, a]
        rec["adverse_event"][:, t] = ae
        rec["efficacy"][:, t] = efficacy
        rec["reward"][:, t] = efficacy - harm_weight * ae
        rec["severity"][:, t] = s
        rec["severity_obs"][:, t] = severity_obs
        rec["eps"][:, t], rec["uniform"][:, t] = eps, uniform
        s = RHO * s + (1 - RHO) * drift - KAPPA * benefit[rows, a] + ETA * ae + rng.normal(0, SEVERITY_NOISE, n)
        previous = a
    rec["expected_return"] = expected_return
    return rec
