"""``simulate_cohort``: a multimodal semi-synthetic cohort with known ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from causalrx.data.schema import Cohort, EcgWaveforms
from causalrx.data.simulate import autoimmune as ai
from causalrx.data.simulate import traits as tr
from causalrx.data.simulate import world
from causalrx.data.simulate.drugs import coefficient_matrix, drug_specs
from causalrx.data.simulate.ecg import synthesize_ecg
from causalrx.data.simulate.truth import GroundTruth, SimulatedCohort
from causalrx.exceptions import ValidationError

PRESENCE = {"genomics": 0.85, "proteomics": 0.70, "ecg": 0.85, "qtc_reported": 0.60}
NAMED_SNPS = (  # variant_id, chrom, gene, escapes X-inactivation
    ("rs4149056", "12", "SLCO1B1", False),
    ("rs9923231", "16", "VKORC1", False),
    ("rs1050828", "X", "G6PD", False),
    ("rs179008", "X", "TLR7", True),
)
PHENOTYPE_LABELS = {"normal": "normal function", "decreased": "decreased function", "poor": "poor function"}


def _check_params(n, n_drugs, confounding, overlap, hidden_confounding, horizon, harm_weight, n_centres) -> None:
    checks = [
        ("n", n, isinstance(n, (int, np.integer)) and n >= 10, "an integer >= 10"),
        ("n_drugs", n_drugs, isinstance(n_drugs, (int, np.integer)) and n_drugs >= 2, "an integer >= 2"),
        ("confounding", confounding, np.isfinite(confounding) and confounding >= 0, "a number >= 0"),
        ("overlap", overlap, np.isfinite(overlap) and overlap > 0, "a number > 0"),
        ("hidden_confounding", hidden_confounding, np.isfinite(hidden_confounding) and hidden_confounding >= 0, "a number >= 0"),
        ("horizon", horizon, isinstance(horizon, (int, np.integer)) and horizon >= 1, "an integer >= 1"),
        ("harm_weight", harm_weight, np.isfinite(harm_weight) and harm_weight >= 0, "a number >= 0"),
        ("n_centres", n_centres, isinstance(n_centres, (int, np.integer)) and 1 <= n_centres <= 50, "an integer in 1..50"),
    ]
    for name, value, ok, expected in checks:
        if not ok:
            raise ValidationError(f"simulate_cohort: {name} must be {expected}, got {value!r}")


def simulate_cohort(
    n: int = 5000,
    n_drugs: int | None = None,
    random_state: int | None = 0,
    *,
    scenario: str = "cardiometabolic",
    confounding: float = 1.0,
    overlap: float = 1.0,
    hidden_confounding: float = 0.0,
    horizon: int = 1,
    harm_weight: float = 2.0,
    rule_adherence: float = 3.0,
    n_centres: int = 5,
    n_snps: int = 100,
    n_x_snps: int = 20,
    n_proteins: int = 40,
    ecg: bool = True,
    ecg_fs: float = 100.0,
    ecg_seconds: float = 10.0,
    ecg_leads: tuple[str, ...] = ("II",),
    progress: bool = False,
) -> SimulatedCohort:
    """Simulate a multimodal cohort of logged drug decisions with full ground truth.

    Modalities: clinical (age, sex, eGFR, comorbidities, allergies, co-medication,
    pregnancy, centre, enrolment date, a QTc reported for some), genomics (SNP dosages
    with sex-aware X-chromosome coding, a PRS, pharmacogene phenotypes and HLA alleles),
    proteomics (log-normal intensities with batch effects and values missing not at
    random) and ECG waveforms whose heart rate, QRS and QT carry signal. Effect modifiers
    sit in every modality (see :mod:`causalrx.data.simulate.drugs`); clinicians choose
    drugs confounded by observed features and, with ``hidden_confounding > 0``, by an
    unobserved one, and they sometimes prescribe a contraindicated drug (always when the
    contraindication is unknown to them, e.g. an untested pharmacogene). The outcomes
    table also carries ``disease``, a drug-independent incident event whose risk draws on
    every modality (the label of risk models; see :func:`.world.disease_risk`).

    Parameters
    ----------
    n, n_drugs : int
        Patients and drugs (the reference arm ``standard_care`` included); ``n_drugs``
        defaults to 6 for the cardiometabolic cohort and to all four arms of an
        autoimmune scenario.
    random_state : int or None
        Seed; the same seed gives identical cohorts and truth.
    scenario : str
        ``"cardiometabolic"`` (the default cohort described above) or an autoimmune
        disease driven by X-escape gene dosage: ``"lupus"`` (alias ``"autoimmune"``),
        ``"vkh"`` or ``"kawasaki"``, each with its own sex ratio, ages and three drugs
        (see :mod:`causalrx.data.simulate.autoimmune`; its subgroup ground truth is
        :func:`.autoimmune.true_subgroup_effects`).
    confounding : float
        Strength of every covariate-dependent part of the clinicians' choices; 0 gives a
        randomised trial (propensities constant across patients).
    overlap : float
        Temperature of the clinicians' softmax; below 1 sharpens choices (less overlap).
    hidden_confounding : float
        Weight of the unobserved prognostic factor ``u`` in the clinicians' choices.
    horizon : int
        Visits per patient; above 1, drugs are chosen at every visit and a latent disease
        severity carries each drug's effect into the future (see :mod:`.world`).
    harm_weight : float
        Lambda of the utility ``reward = efficacy - harm_weight * adverse_event``.
    rule_adherence : float
        Logit penalty clinicians put on a contraindication they know of.
    n_centres, n_snps, n_x_snps, n_proteins : int
        Sizes of the centre, genotype and protein panels.
    ecg, ecg_fs, ecg_seconds, ecg_leads
        Whether to synthesise waveforms, and their sampling rate, length and leads.
    progress : bool
        Show a progress bar.

    Returns
    -------
    SimulatedCohort
        ``.cohort`` (what an analyst observes), ``.truth`` (potential outcomes, ITEs,
        stated ATEs, propensities, contraindications) and ``.true_policy_value``.

    Examples
    --------
    >>> sim = simulate_cohort(n=500, n_drugs=4, random_state=1, ecg=False)
    >>> sim.cohort.n_patients, sim.truth.ite_net.shape
    (500, (500, 4))
    """
    prof = ai.profile(scenario)
    if n_drugs is None:
        n_drugs = 6 if prof is None else 1 + len(prof.drugs)
    _check_params(n, n_drugs, confounding, overlap, hidden_confounding, horizon, harm_weight, n_centres)
    config = dict(
        n=int(n), n_drugs=int(n_drugs), random_state=random_state, scenario=str(scenario), confounding=float(confounding), overlap=float(overlap),
        hidden_confounding=float(hidden_confounding), horizon=int(horizon), harm_weight=float(harm_weight),
        rule_adherence=float(rule_adherence), n_centres=int(n_centres), n_snps=int(n_snps), n_x_snps=int(n_x_snps),
        n_proteins=int(n_proteins), ecg=bool(ecg), ecg_fs=float(ecg_fs), ecg_seconds=float(ecg_seconds), ecg_leads=list(ecg_leads),
    )  # fmt: skip
    rng = np.random.default_rng(random_state)
    bar = tqdm(total=6 + (n if ecg else 0), desc="simulate", disable=not progress, unit="step")

    traits = tr.draw_traits(n, rng, n_centres) if prof is None else ai.draw_traits(n, rng, n_centres, prof)
    female = (traits["sex"] == "F").to_numpy()
    dosage, variants, prs = tr.draw_genotype_panel(n, rng, female, n_snps, n_x_snps)
    traits["prs"] = prs
    ids = np.array([f"P{i:06d}" for i in range(n)])
    traits.insert(0, "patient_id", ids)
    present = {m: rng.random(n) < p for m, p in PRESENCE.items()}
    bar.update()

    specs = drug_specs(n_drugs) if prof is None else ai.drug_specs(prof, n_drugs)
    names = tuple(s.name for s in specs)
    term = tr.terms(traits) if prof is None else tr.terms(traits) | ai.terms(traits)
    term_names = list(term)
    matrix = np.column_stack([term[t] for t in term_names])
    benefit_coef, harm_coef = coefficient_matrix(specs, "benefit", term_names), coefficient_matrix(specs, "harm", term_names)
    benefit, harm = matrix @ benefit_coef, matrix @ harm_coef
    closed_form = tr.term_means() if prof is None else ai.population_term_means(prof)
    used = (benefit_coef != 0).any(axis=1) | (harm_coef != 0).any(axis=1)
    means = np.array([closed_form.get(t, np.nan if u else 0.0) for t, u in zip(term_names, used)])  # terms no drug uses: 0
    ate_efficacy, ate_adverse = means @ benefit_coef, means @ harm_coef
    contraindicated, known = _contraindications(specs, term, present, traits)
    bar.update()

    centre_prognosis, centre_habits = world.centre_effects(n_centres, n_drugs)
    mu0, mu0_observed = world.baseline_prognosis(traits, centre_prognosis)
    if prof is not None:  # more active disease, worse prognosis (and clinicians see it)
        mu0, mu0_observed = (m + ai.PROGNOSIS_PER_ACTIVITY * traits["activity"].to_numpy() for m in (mu0, mu0_observed))
    adverse_prob = world.base_adverse_risk(traits, term["tlr7_c"])[:, None] + harm
    clinicians = world.clinician_policy(
        specs, traits, contraindicated, known, mu0_observed, centre_habits,
        confounding=confounding, overlap=overlap, hidden_confounding=hidden_confounding, adherence=rule_adherence,
    )  # fmt: skip
    drift = world.disease_drift(traits)
    logged = world.run_episodes(
        lambda _, sev, prev: clinicians.distribution(sev, prev), mu0, benefit, adverse_prob, drift, horizon, harm_weight, rng
    )
    bar.update()

    efficacy_mean = mu0[:, None] + benefit
    potential_efficacy = efficacy_mean + logged["eps"][:, :1]
    potential_adverse = (logged["uniform"][:, :1] < adverse_prob).astype(np.int8)
    hazard = 0.1 * np.exp(
        0.5 * traits["age_z"].to_numpy()[:, None] + 0.6 * traits["heart_failure"].to_numpy()[:, None] - 0.5 * (mu0[:, None] - 0.5)
        - 0.6 * benefit + 1.5 * harm
    )  # fmt: skip
    event_time = rng.exponential(1.0, n)[:, None] / hazard
    censor = np.minimum(5.0, rng.exponential(12.0, n))
    bar.update()

    named = NAMED_SNPS + ((ai.KDM6A.variant_id, "X", ai.KDM6A.gene, True),) * (prof is not None)
    frequencies = [tr.SLCO1B1_RS4149056_C, tr.VKORC1_RS9923231_A, tr.G6PD_RS1050828_T, tr.TLR7_RS179008_T, ai.KDM6A.allele_frequency]
    clinical = _clinical_table(ids, traits, present["qtc_reported"], rng, recorded_age=(18, 100) if prof is None else prof.recorded_age)
    if prof is not None:
        clinical["disease_activity"] = np.round(10 + 4 * traits["activity"].to_numpy(), 1)
    genomics = _genomics_table(ids, traits, dosage, variants, present["genomics"], rng, typed_a3101="carbamazepine" in names, named=named)
    variants = pd.concat(
        [variants, pd.DataFrame({
            "variant_id": [s[0] for s in named], "chrom": [s[1] for s in named], "pos": 0, "ref": "C", "alt": "T",
            "gene": [s[2] for s in named], "escapes_x_inactivation": [s[3] for s in named], "prs_weight": 0.0,
            "alt_frequency": frequencies[: len(named)],
        })], ignore_index=True,
    )  # fmt: skip
    proteomics = _proteomics_table(ids, traits, present["proteomics"], n_proteins, n_centres, rng)
    bar.update()
    treatments, outcomes, timeseries = _visit_tables(ids, names, logged, horizon)
    if horizon == 1:
        rows = np.arange(n)
        t_logged = event_time[rows, logged["action"][:, 0]]
        outcomes["time"] = np.minimum(t_logged, censor)
        outcomes["event"] = (t_logged <= censor).astype(np.int8)
    waveforms = None
    if ecg:
        keep = np.flatnonzero(present["ecg"])
        signals = synthesize_ecg(
            traits["hr_bpm"].to_numpy()[keep], traits["qrs_ms"].to_numpy()[keep], traits["qtc_ms"].to_numpy()[keep], rng,
            fs=ecg_fs, duration_s=ecg_seconds, leads=tuple(ecg_leads), progress=bar.update,
        )  # fmt: skip
        bar.update(n - len(keep))
        waveforms = EcgWaveforms(patient_id=ids[keep], signals=signals, fs=ecg_fs, leads=tuple(ecg_leads))
    disease_prob = world.disease_risk(traits, term)
    outcomes["disease"] = np.repeat((rng.random(n) < disease_prob).astype(np.int8), horizon)
    bar.update()
    bar.close()

    cohort = Cohort(
        clinical=clinical, action_names=names, treatments=treatments, outcomes=outcomes, genomics=genomics,
        proteomics=proteomics, ecg=waveforms, variants=variants, timeseries=timeseries,
        metadata={"source": "causalrx.data.simulate.simulate_cohort", "simulation": config,
                  **({} if prof is None else {"disease": prof.label}),
                  "indications": {d: i for d, i in INDICATIONS.items() if d in names}},
    )  # fmt: skip
    truth = GroundTruth(
        action_names=names, harm_weight=float(harm_weight), efficacy_mean=efficacy_mean, adverse_prob=adverse_prob,
        efficacy=potential_efficacy, adverse_event=potential_adverse, event_time=event_time,
        propensity=clinicians.distribution(logged["severity_obs"][:, 0], None), contraindicated=contraindicated,
        visit_propensity=logged["propensity"], ate_efficacy=ate_efficacy, ate_adverse=ate_adverse, mu0=mu0, drift=drift,
        static_logits=clinicians.static_logits, disease_prob=disease_prob, confounding=float(confounding), overlap=float(overlap), traits=traits,
    )  # fmt: skip
    return SimulatedCohort(cohort=cohort, truth=truth, config=config)


def _contraindications(specs, term, present, traits) -> tuple[np.ndarray, np.ndarray]:
    """(truly contraindicated, contraindication the clinician can know of), both bool (n, k)."""
    n = len(traits)
    tested = traits["pgx_tested"].to_numpy() & present["genomics"]
    qt_visible = present["qtc_reported"] | present["ecg"]
    contraindicated = np.zeros((n, len(specs)), dtype=bool)
    known = np.zeros((n, len(specs)), dtype=bool)
    for a, spec in enumerate(specs):
        for name in spec.avoid:
            holds = term[name] > 0
            visible = tested if name in world.PGX_TERMS else qt_visible if name == "long_qt" else np.ones(n, bool)
            contraindicated[:, a] |= holds
            known[:, a] |= holds & visible
    return contraindicated, known


# What the simulated clinicians prescribe each indication-split drug for (safety rules read it
# from the cohort's metadata): clopidogrel for cardiovascular prevention, azathioprine as an
# immunosuppressant.
INDICATIONS = {"clopidogrel": "non-ACS non-PCI cardiovascular", "azathioprine": "non-malignant condition"}


def _clinical_table(ids, traits, qtc_reported, rng, recorded_age=(18, 100)) -> pd.DataFrame:
    n = len(ids)
    days = rng.integers(0, 9 * 365, n)
    table = pd.DataFrame(
        {
            "patient_id": ids,
            "centre": np.char.add("C", (traits["centre"].to_numpy() + 1).astype(str)),
            "enrol_date": pd.Timestamp("2016-01-01") + pd.to_timedelta(days, unit="D"),
            "age": np.clip(traits["age"].to_numpy(), *recorded_age),
            "sex": traits["sex"].to_numpy(),
            "weight_kg": np.clip(traits["weight_kg"].to_numpy(), 35, 200),
            "egfr": np.clip(traits["egfr"].to_numpy(), 5, 150),
        }
    )
    for col in ("diabetes", "heart_failure", "hypertension", "atrial_fibrillation", "pregnant", "allergy_penicillin",
                "allergy_sulfonamide", "on_nsaid", "on_clarithromycin", "on_omeprazole", "pgx_tested"):  # fmt: skip
        table[col] = traits[col].to_numpy().astype(bool)
    table["qtc_ms"] = np.where(qtc_reported, traits["qtc_ms"].to_numpy(), np.nan)
    return table


def _genomics_table(ids, traits, dosage, variants, present, rng, typed_a3101: bool = False, named=NAMED_SNPS) -> pd.DataFrame:
    """Genotype dosages and pharmacogene phenotypes of the patients with genomics. HLA-A*31:01
    is typed only in cohorts where carbamazepine is among the drugs, so the tables of cohorts
    without it (the default six drugs) are those of earlier versions."""
    keep = np.flatnonzero(present)
    t = traits.iloc[keep]
    values = dosage[keep].astype(np.float32)
    values[rng.random(values.shape) < 0.002] = np.nan  # missing calls
    table = pd.DataFrame(values, columns=variants["variant_id"].to_numpy())
    for snp, *_ in named:
        table[snp] = t[snp].to_numpy().astype(np.float32)
    table.insert(0, "patient_id", ids[keep])
    table["prs"] = t["prs"].to_numpy()
    table["CYP2C19_diplotype"] = t["CYP2C19_diplotype"].to_numpy()
    table["CYP2C19"] = t["CYP2C19"].to_numpy()
    table["CYP2D6"] = t["CYP2D6"].to_numpy()
    slco = t["rs4149056"].to_numpy()
    table["SLCO1B1"] = np.select([slco == 2, slco == 1], [PHENOTYPE_LABELS["poor"], PHENOTYPE_LABELS["decreased"]], PHENOTYPE_LABELS["normal"])
    table["CYP2C9"] = t["CYP2C9"].to_numpy()
    table["VKORC1"] = np.array(["GG", "GA", "AA"])[t["rs9923231"].to_numpy()]
    for allele in (*tr.HLA, "HLA-A*31:01") if typed_a3101 else tr.HLA:
        table[allele] = np.where(t[allele].to_numpy(), "positive", "negative")
    table["TPMT"] = t["TPMT"].to_numpy()
    table["NUDT15"] = t["NUDT15"].to_numpy()
    table["DPYD"] = t["DPYD"].to_numpy()
    female = (t["sex"] == "F").to_numpy()
    g6pd = t["rs1050828"].to_numpy()
    table["G6PD"] = np.where(tr.g6pd_deficient(t), "deficient", np.where(female & (g6pd == 1), "variable", "normal"))
    return table


def _proteomics_table(ids, traits, present, n_proteins, n_centres, rng) -> pd.DataFrame:
    keep = np.flatnonzero(present)
    t = traits.iloc[keep]
    m = len(keep)
    world_rng = np.random.default_rng(tr.STRUCTURE_SEED + 7)
    names = ["GDF15", "NTPROBNP"] + [f"P{j:04d}" for j in range(3, n_proteins + 1)]
    names = names[:n_proteins]
    loadings = world_rng.normal(0, 0.6, (3, n_proteins))
    factors = np.column_stack([t["age_z"].to_numpy(), t["egfr_z"].to_numpy(), rng.normal(0, 1, m)])
    z = factors @ loadings + rng.normal(0, 1, (m, n_proteins))
    z[:, 0] = t["gdf15_z"].to_numpy()
    if n_proteins > 1:
        z[:, 1] = t["ntprobnp_z"].to_numpy()
    centre = t["centre"].to_numpy()
    period = rng.random(m) < 0.5
    batch = centre * 2 + period
    shift = world_rng.normal(0, 0.8, (2 * n_centres, n_proteins))
    mean = world_rng.uniform(12, 22, n_proteins)
    sd = world_rng.uniform(0.6, 1.5, n_proteins)
    log2 = mean + sd * z + shift[batch] + rng.normal(0, 0.2, (m, n_proteins))
    limit = mean - 1.5 * sd
    missing = rng.random((m, n_proteins)) < 1 / (1 + np.exp(-4 * (limit - log2)))
    missing |= rng.random((m, n_proteins)) < 0.01
    values = np.where(missing, np.nan, np.exp2(log2))
    table = pd.DataFrame(values, columns=names)
    table.insert(0, "batch", np.char.add("B", np.char.zfill((batch + 1).astype(str), 2)))
    table.insert(0, "patient_id", ids[keep])
    return table


def _visit_tables(ids, names, logged, horizon):
    n = len(ids)
    pid = np.repeat(ids, horizon)
    visit = np.tile(np.arange(horizon), n)
    treatments = pd.DataFrame({"patient_id": pid, "visit": visit, "drug": np.asarray(names)[logged["action"].ravel()]})
    outcomes = pd.DataFrame(
        {
            "patient_id": pid,
            "visit": visit,
            "efficacy": logged["efficacy"].ravel(),
            "adverse_event": logged["adverse_event"].ravel(),
        }
    )
    timeseries = pd.DataFrame(
        {"patient_id": pid, "visit": visit, "day": visit * 90, "severity": logged["severity_obs"].ravel()}
    )
    return treatments, outcomes, timeseries
