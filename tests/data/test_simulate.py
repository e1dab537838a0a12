"""The simulator against its own ground truth."""

import numpy as np
import pandas as pd
import pytest

from causalrx.data.simulate import simulate_cohort
from causalrx.data.simulate import traits as tr
from causalrx.exceptions import ValidationError


def _naive_and_se(sim):
    """Naive mean-difference in net reward per drug vs reference, with its standard error."""
    c = sim.cohort
    a = c.logged_actions(0)
    r = c.outcome("efficacy") - sim.truth.harm_weight * c.outcome("adverse_event")
    ref = r[a == 0]
    out = []
    for k in range(1, c.n_actions):
        arm = r[a == k]
        out.append((arm.mean() - ref.mean(), np.sqrt(arm.var(ddof=1) / len(arm) + ref.var(ddof=1) / len(ref))))
    return np.array(out)


def test_naive_contrast_unbiased_without_confounding():
    sim = simulate_cohort(n=20_000, n_drugs=6, random_state=11, confounding=0.0, ecg=False)
    naive, se = _naive_and_se(sim).T
    truth = sim.truth.ite_net.mean(axis=0)[1:]
    z = (naive - truth) / se
    assert np.all(np.abs(z) < 4), z
    # confounding = 0 is a randomised trial: propensities do not depend on the patient
    assert np.ptp(sim.truth.propensity, axis=0).max() < 1e-12


def test_naive_contrast_biased_with_confounding():
    sim = simulate_cohort(n=20_000, n_drugs=6, random_state=11, confounding=1.0, ecg=False)
    naive, se = _naive_and_se(sim).T
    bias = naive - sim.truth.ite_net.mean(axis=0)[1:]
    assert np.mean(np.abs(bias)) > 0.2
    assert np.max(np.abs(bias) / se) > 10


def test_hidden_confounding_biases_a_randomised_looking_design():
    sim = simulate_cohort(n=20_000, n_drugs=4, random_state=5, confounding=0.0, hidden_confounding=1.5, ecg=False)
    naive, se = _naive_and_se(sim).T
    bias = naive - sim.truth.ite_net.mean(axis=0)[1:]
    # sicker patients (low u) are treated more, so active drugs look worse than they are
    assert np.all(bias < -4 * se), (bias, se)


def test_stated_ate_matches_potential_outcomes():
    sim = simulate_cohort(n=100_000, n_drugs=16, random_state=2, ecg=False)
    t = sim.truth
    n = t.efficacy.shape[0]
    d_eff = t.efficacy - t.efficacy[:, :1]
    d_adv = t.adverse_event.astype(float) - t.adverse_event[:, :1]
    for diff, stated in ((d_eff, t.ate_efficacy), (d_adv, t.ate_adverse)):
        se = np.maximum(diff.std(axis=0, ddof=1) / np.sqrt(n), 1e-9)
        z = (diff.mean(axis=0)[1:] - stated[1:]) / se[1:]
        assert np.all(np.abs(z) < 4.5), z
    assert t.ate_efficacy[0] == 0 and t.ate_adverse[0] == 0
    np.testing.assert_allclose(t.ate_net, t.ate_efficacy - t.harm_weight * t.ate_adverse)


def test_closed_form_term_means_match_samples():
    rng = np.random.default_rng(0)
    n = 400_000
    traits = tr.draw_traits(n, rng, n_centres=5)
    _, _, traits["prs"] = tr.draw_genotype_panel(n, rng, (traits["sex"] == "F").to_numpy(), 60, 5)
    terms = tr.terms(traits)
    means = tr.term_means()
    assert set(terms) == set(means)
    for name, values in terms.items():
        se = max(values.std(ddof=1), 1e-3) / np.sqrt(n)
        assert abs(values.mean() - means[name]) < 4.5 * se, (name, values.mean(), means[name])


def test_same_seed_same_cohort_and_different_seed_differs():
    a = simulate_cohort(n=300, n_drugs=5, random_state=7)
    b = simulate_cohort(n=300, n_drugs=5, random_state=7)
    c = simulate_cohort(n=300, n_drugs=5, random_state=8)
    for name in ("clinical", "genomics", "proteomics", "treatments", "outcomes", "timeseries"):
        pd.testing.assert_frame_equal(getattr(a.cohort, name), getattr(b.cohort, name))
    np.testing.assert_array_equal(a.cohort.ecg.signals, b.cohort.ecg.signals)
    np.testing.assert_array_equal(a.truth.efficacy, b.truth.efficacy)
    assert not np.array_equal(a.truth.efficacy, c.truth.efficacy)


def test_effect_modifiers_in_every_modality():
    sim = simulate_cohort(n=20_000, n_drugs=6, random_state=4, ecg=False)
    tr_ = sim.truth.traits
    ite = pd.DataFrame(sim.truth.ite_efficacy, columns=sim.cohort.action_names)
    # genomics: CYP2C19 poor metabolisers gain nothing from clopidogrel
    pm = (tr_["CYP2C19"] == "poor").to_numpy()
    assert pm.sum() > 100
    np.testing.assert_allclose(ite.loc[pm, "clopidogrel"], 0.0, atol=1e-12)
    assert ite.loc[~pm, "clopidogrel"].mean() > 0.5
    # proteomics: GDF15 modifies metformin; ECG: heart rate modifies sotalol
    assert np.corrcoef(tr_["gdf15_z"], ite["metformin"])[0, 1] > 0.5
    assert np.corrcoef(tr_["hr_bpm"], ite["sotalol"])[0, 1] > 0.5
    # ECG: long QT makes sotalol harmful; clinical: eGFR < 30 makes metformin harmful
    harm = pd.DataFrame(sim.truth.ite_adverse, columns=sim.cohort.action_names)
    long_qt = tr.long_qt(tr_)
    assert harm.loc[long_qt, "sotalol"].mean() - harm.loc[~long_qt, "sotalol"].mean() == pytest.approx(0.4, abs=0.02)
    assert sim.truth.contraindicated[long_qt, 4].all()


def test_sex_aware_x_chromosome():
    sim = simulate_cohort(n=5000, n_drugs=3, random_state=1, ecg=False)
    g = sim.cohort.genomics.merge(sim.cohort.clinical[["patient_id", "sex"]], on="patient_id")
    x_cols = [v for v, chrom in zip(sim.cohort.variants["variant_id"], sim.cohort.variants["chrom"]) if chrom == "X"]
    assert "rs179008" in x_cols and "rs1050828" in x_cols
    male = g["sex"] == "M"
    assert np.nanmax(g.loc[male, x_cols].to_numpy()) == 1
    assert np.nanmax(g.loc[~male, x_cols].to_numpy()) == 2
    # TLR7 escapes X-inactivation: women carry a higher baseline adverse-event risk
    female = (sim.truth.traits["sex"] == "F").to_numpy()
    base = sim.truth.adverse_prob[:, 0]
    assert base[female].mean() > base[~female].mean() + 0.02
    # G6PD deficiency: hemizygous men far more often than women
    g6 = g["G6PD"] == "deficient"
    assert g6[male].mean() > 5 * g6[~male].mean()


def test_logged_data_contain_unsafe_decisions_mostly_unknown_to_clinicians():
    sim = simulate_cohort(n=20_000, n_drugs=10, random_state=9, ecg=False)
    a = sim.cohort.logged_actions(0)
    contra = sim.truth.contraindicated[np.arange(len(a)), a]
    assert 0.002 < contra.mean() < 0.1
    tested = sim.cohort.clinical["pgx_tested"].to_numpy()
    hla = (sim.truth.traits["HLA-B*57:01"]).to_numpy()
    abacavir = sim.cohort.action_names.index("abacavir")
    # clinicians avoid abacavir in tested HLA-B*57:01 carriers more than in untested ones
    given = a == abacavir
    assert given[hla & ~tested].mean() > 2 * given[hla & tested].mean()


def test_true_policy_value_one_step():
    sim = simulate_cohort(n=3000, n_drugs=6, random_state=2, ecg=False)
    t = sim.truth
    oracle = sim.oracle_policy()
    assert sim.true_policy_value(oracle) == pytest.approx(t.expected_reward.max(axis=1).mean())
    assert sim.true_policy_value(oracle) > sim.logging_policy_value()
    always_ref = np.zeros(3000, dtype=int)
    assert sim.true_policy_value(always_ref) == pytest.approx(t.expected_reward[:, 0].mean())
    assert sim.true_policy_value(lambda feats: np.full((len(feats), 6), 1 / 6)) == pytest.approx(t.expected_reward.mean())
    # the realised logged rewards average to the logging policy's true value (within noise)
    fb = sim.bandit_feedback()
    assert abs(fb.reward.mean() - sim.logging_policy_value()) < 4 * fb.reward.std() / np.sqrt(3000)
    # true propensities give an unbiased IPS estimate of a target policy's value
    w = oracle[np.arange(3000), fb.action] / fb.pscore
    ips = np.mean(w * fb.reward)
    assert abs(ips - sim.true_policy_value(oracle)) < 4 * np.std(w * fb.reward) / np.sqrt(3000)
    with pytest.raises(ValidationError, match="outcome"):
        sim.true_policy_value(oracle, outcome="survival")
    with pytest.raises(ValidationError, match="shape"):
        sim.true_policy_value(np.ones((10, 6)) / 6)


def test_multi_visit_rollout_matches_logged_returns():
    sim = simulate_cohort(n=4000, n_drugs=4, random_state=6, horizon=4, ecg=False)
    traj = sim.trajectories()
    assert traj.n_episodes == 4000 and traj.n_steps == 16_000
    returns = traj.returns()
    value = sim.logging_policy_value(n_rollouts=20)
    assert abs(returns.mean() - value) < 4 * returns.std() / np.sqrt(4000)
    # a drug's benefit persists: always prescribing the best-on-average drug beats standard care
    best = int(np.argmax(sim.truth.ate_net))
    always = lambda k: (lambda f: np.eye(4)[np.full(len(f), k)])  # noqa: E731
    v_best = sim.true_policy_value(always(best), n_rollouts=5)
    v_ref = sim.true_policy_value(always(0), n_rollouts=5)
    one_step_gain = sim.truth.ate_net[best]
    assert v_best - v_ref > 4 * one_step_gain * 0.9  # more than the sum of immediate gains
    with pytest.raises(ValidationError, match="callable"):
        sim.true_policy_value(np.zeros(4000, dtype=int))


def test_ecg_intervals_carry_signal():
    sim = simulate_cohort(n=300, n_drugs=3, random_state=0, ecg_fs=250)
    ecg = sim.cohort.ecg
    traits = sim.truth.traits.set_index("patient_id").loc[ecg.patient_id]
    sig = ecg.signals[:, 0]
    fs = ecg.fs
    delays, rates = [], []
    for x in sig:
        peaks = np.flatnonzero((x[1:-1] > 0.6) & (x[1:-1] >= x[:-2]) & (x[1:-1] > x[2:])) + 1
        rr = np.diff(peaks) / fs
        rates.append(60 / rr.mean())
        t_peaks = [np.argmax(x[p + int(0.1 * fs): p + int(0.6 * rr.mean() * fs)]) / fs + 0.1 for p in peaks[:-1]]
        delays.append(np.median(t_peaks))
    qt = traits["qtc_ms"].to_numpy() * np.sqrt(60 / np.clip(traits["hr_bpm"].to_numpy(), 40, 140))
    assert np.corrcoef(rates, np.clip(traits["hr_bpm"], 40, 140))[0, 1] > 0.98
    assert np.corrcoef(delays, qt)[0, 1] > 0.8


def test_bad_parameters_are_named():
    for kwargs, name in (({"n": 5}, "n"), ({"n_drugs": 1}, "n_drugs"), ({"overlap": 0}, "overlap"),
                         ({"confounding": -1}, "confounding"), ({"horizon": 0}, "horizon")):  # fmt: skip
        with pytest.raises(ValidationError, match=name):
            simulate_cohort(**kwargs)


def test_disease_label_follows_its_stated_risk_and_every_modality():
    from sklearn.metrics import roc_auc_score

    sim = simulate_cohort(n=20_000, n_drugs=3, random_state=5, ecg=False)
    y, p = sim.cohort.outcome("disease"), sim.truth.disease_prob
    assert abs(y.mean() - p.mean()) < 3 * np.sqrt(p.mean() * (1 - p.mean()) / len(y))
    # calibrated by construction: observed rate per risk decile equals the mean risk
    deciles = np.digitize(p, np.quantile(p, np.linspace(0.1, 0.9, 9)))
    for d in range(10):
        rows = deciles == d
        assert abs(y[rows].mean() - p[rows].mean()) < 4 * np.sqrt(p[rows].mean() / rows.sum())
    t = sim.truth.traits
    for latent in ("age_z", "prs", "ntprobnp_z", "qtc_ms"):  # clinical, genomics, proteomics, ECG
        assert roc_auc_score(y, t[latent]) > 0.53, latent
    # drug-independent: the same label at every visit, whatever the logged drug
    multi = simulate_cohort(n=300, n_drugs=3, random_state=5, ecg=False, horizon=3)
    assert (multi.cohort.outcomes.groupby("patient_id")["disease"].nunique() == 1).all()
