"""Defaults a user can trust: inputs in the shapes people have, binary outcomes as risk
differences, point effects without paying for intervals, a selector that works with no
arguments, and one n_jobs convention."""

import numpy as np
import pytest
from scipy.special import expit

from causalrx.effects import CateSelector, CausalForest, DRLearner, MetaLearner, RLearner
from causalrx.effects.outcome import ProbabilityRegressor
from causalrx.exceptions import ValidationError
from causalrx.parallel import available_cpus, resolve_n_jobs


def _continuous(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    t = rng.random(n) < expit(0.5 * X[:, 0])
    tau = 1.0 + X[:, 1]
    y = X[:, 0] + t * tau + rng.normal(0, 0.5, n)
    return X, t, y, tau


def _binary(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    t = (rng.random(n) < expit(0.7 * X[:, 0])).astype(int)
    p0, p1 = expit(X[:, 1] - 0.5), expit(X[:, 1] + 0.8 + X[:, 2])
    y = (rng.random(n) < np.where(t == 1, p1, p0)).astype(float)
    return X, t, y, p1 - p0


@pytest.mark.parametrize("shape", ["bool", "float", "column", "names"])
def test_treatment_and_outcome_in_the_shapes_people_have(shape):
    X, t, y, tau = _continuous()
    action = {"bool": t, "float": t.astype(float), "column": t.astype(int)[:, None],
              "names": np.where(t, "drug", "control")}[shape]  # fmt: skip
    names = ("control", "drug") if shape == "names" else None
    est = MetaLearner(kind="T", random_state=0).fit(X, action, y[:, None] if shape == "column" else y, action_names=names)
    ite = est.effect(X).ite[:, 1]
    assert abs(ite.mean() - tau.mean()) < 0.15 and np.corrcoef(ite, tau)[0, 1] > 0.8
    reference = MetaLearner(kind="T", random_state=0).fit(X, t.astype(int), y)
    np.testing.assert_allclose(ite, reference.effect(X).ite[:, 1])  # the same fit, whatever the input shape


def test_bad_treatments_are_named():
    X, t, y, _ = _continuous(200)
    with pytest.raises(ValidationError, match=r"action: expected whole-number drug indices, got 1 value"):
        MetaLearner().fit(X, np.r_[0.5, t[1:].astype(float)], y)
    with pytest.raises(ValidationError, match=r"action: drug\(s\) \['other'\] are not among action_names"):
        MetaLearner().fit(X, np.r_[["other"], np.where(t[1:], "drug", "control")], y, action_names=("control", "drug"))
    with pytest.raises(ValidationError, match=r"action: expected shape \(200,\) or \(200, 1\)"):
        MetaLearner().fit(X, np.c_[t, t], y)


@pytest.mark.parametrize("make", [lambda: MetaLearner(kind="T", random_state=0), lambda: MetaLearner(kind="X", random_state=0),
                                  lambda: DRLearner(final="linear", random_state=0),
                                  lambda: CausalForest(n_estimators=100, random_state=0)])  # fmt: skip
def test_binary_outcomes_give_bounded_risk_differences_close_to_the_truth(make):
    X, t, y, rd = _binary()
    est = make().fit(X, t, y)
    assert est.binary_outcome_
    effect = est.effect(X)
    ite = effect.ite[:, 1]
    assert np.all(np.abs(ite) <= 1) and np.all(np.abs(effect.lower[:, 1][np.isfinite(effect.lower[:, 1])]) <= 1)
    assert abs(ite.mean() - rd.mean()) < 0.04  # calibrated on average: the ATE as a risk difference
    assert np.corrcoef(ite, rd)[0, 1] > 0.5
    continuous = make().set_params(outcome="continuous").fit(X, t, y)
    assert not continuous.binary_outcome_


def test_probability_regressor_predicts_probabilities():
    X, t, y, _ = _binary(1000)
    p = ProbabilityRegressor(random_state=0).fit(X, y).predict(X)
    assert p.min() >= 0 and p.max() <= 1 and abs(p.mean() - y.mean()) < 0.02
    assert np.all(ProbabilityRegressor().fit(X[:5], np.ones(5)).predict(X) == 1.0)
    with pytest.raises(ValidationError, match="0/1 outcome"):
        ProbabilityRegressor().fit(X, y + 0.5)
    with pytest.raises(ValidationError, match="outcome='binary' needs values 0 and 1"):
        MetaLearner(outcome="binary").fit(X, t, y + 0.5)


def test_point_effects_without_intervals_match_the_full_effect():
    X, t, y, _ = _continuous(600)
    forest = CausalForest(n_estimators=100, random_state=0).fit(X, t, y)
    full, cheap = forest.effect(X), forest.effect(X, interval=False)
    np.testing.assert_allclose(cheap.ite, full.ite)
    np.testing.assert_allclose(cheap.ite, forest.point_effect(X))
    assert np.isnan(cheap.lower[:, 1]).all() and (cheap.lower[:, 0] == 0).all()
    with pytest.raises(ValidationError, match="interval: expected True or False"):
        forest.effect(X, interval="no")


def test_the_selector_works_with_no_arguments():
    X, t, y, tau = _continuous(800)
    selector = CateSelector(random_state=0).fit(X, t, y)
    assert set(selector.scores_["candidate"]) == {"T-learner", "X-learner", "DR-learner (linear)"}
    ite = selector.effect(X).ite[:, 1]
    assert np.corrcoef(ite, tau)[0, 1] > 0.8 and abs(ite.mean() - tau.mean()) < 0.15


def test_one_n_jobs_convention():
    cpus = available_cpus()
    assert resolve_n_jobs(None) == cpus == resolve_n_jobs(-1) and resolve_n_jobs(3) == 3
    assert resolve_n_jobs(-2) == max(1, cpus - 1)
    for bad in (0, 1.5, True, "all"):
        with pytest.raises(ValidationError, match="n_jobs: expected None"):
            resolve_n_jobs(bad)
    assert DRLearner().n_jobs is None and CausalForest().n_jobs is None


def _exponential(n, seed):
    """One arm's outcome grows exponentially with x0 (as IHDP's response surface B): the effect
    is steep at the edge of the data, where a forest's leaves are flat."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    t = (rng.random(n) < expit(0.4 * X[:, 0])).astype(int)
    mu0, mu1 = np.exp(1.0 + X[:, 0]), 1.0 + X[:, 1]
    tau = mu1 - mu0
    return X, t, np.where(t == 1, mu1, mu0) + rng.normal(0, 1, n), tau


@pytest.mark.parametrize("make", [lambda **kw: DRLearner(n_estimators=200, random_state=0, **kw),
                                  lambda **kw: CausalForest(n_estimators=200, random_state=0, **kw),
                                  lambda **kw: MetaLearner(kind="S", random_state=0, **kw),
                                  lambda **kw: MetaLearner(kind="X", random_state=0, **kw),
                                  lambda **kw: RLearner(random_state=0, **kw)])  # fmt: skip
def test_learners_centred_on_a_baseline_follow_an_exponential_effect_on_new_patients(make):
    X, t, y, _ = _exponential(700, seed=3)
    X_new, _, _, tau_new = _exponential(2000, seed=4)
    pehe = {b: np.sqrt(np.mean((make(baseline=b).fit(X, t, y).point_effect(X_new)[:, 1] - tau_new) ** 2)) for b in ("auto", "none")}
    constant = np.sqrt(np.mean((tau_new - tau_new.mean()) ** 2))  # every patient given the true average effect
    assert pehe["auto"] < 0.25 * constant and pehe["auto"] < 0.5 * pehe["none"], pehe


def test_a_t_learner_is_not_centred_on_itself():
    X, t, y, _ = _continuous(300)
    assert MetaLearner(kind="T", random_state=0).fit(X, t, y).baseline_ is None
    assert MetaLearner(kind="X", random_state=0).fit(X, t, y).baseline_ is not None


def test_the_baseline_is_out_of_fold_for_training_patients():
    from causalrx.effects.learners import PlugInBaseline

    X, t, y, _ = _exponential(300, seed=5)
    base = PlugInBaseline(n_folds=3, random_state=0)
    offsets = base.fit_offsets(X, t, y, 2)
    moved = y.copy()
    moved[7] += 50.0  # a patient's own outcome reaches their offset only through the arm's calibration slope
    again = PlugInBaseline(n_folds=3, random_state=0).fit_offsets(X, t, moved, 2)
    assert abs(again[7] - offsets[7]) < 0.01 * 50.0 and not np.allclose(again, offsets)
    assert (offsets[t == 0] == 0).all()  # the reference arm is its own baseline
    tau0 = base.effects(X[:5])
    assert tau0.shape == (5, 2) and (tau0[:, 0] == 0).all()


def test_baseline_choices_are_named():
    X, t, y, _ = _continuous(300)
    with pytest.raises(ValidationError, match="baseline: expected 'auto', 't-learner', 'none' or a regressor"):
        DRLearner(baseline="T").fit(X, t, y)
    with pytest.raises(ValidationError, match="baseline: expected .* got int"):
        CausalForest(baseline=3).fit(X, t, y)
    Xb, tb, yb, _ = _binary(600)
    assert DRLearner(final="linear", random_state=0).fit(Xb, tb, yb).baseline_ is None  # risk differences: no centring by default
    with pytest.raises(ValidationError, match="baseline: a binary .* outcome is not centred"):
        DRLearner(final="linear", baseline="t-learner").fit(Xb, tb, yb)


def _binary_with_risks(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    t = (rng.random(n) < expit(0.7 * X[:, 0])).astype(int)
    p0, p1 = expit(X[:, 1] - 1.0), expit(X[:, 1] - 0.2 + 0.6 * X[:, 2])
    return X, t, (rng.random(n) < np.where(t == 1, p1, p0)).astype(float), p0, p1


@pytest.mark.parametrize("make", [lambda: MetaLearner(kind="T", random_state=0), lambda: DRLearner(final="linear", random_state=0)])
def test_risk_differences_are_calibrated_and_ratios_follow_the_true_risks(make):
    X, t, y, p0, p1 = _binary_with_risks(8000)  # the sampling error of a risk difference on 4,000 per arm is about 0.01
    X_new, _, _, q0, q1 = _binary_with_risks(3000, seed=1)
    est = make().fit(X, t, y)
    rd = est.point_effect(X_new)[:, 1]
    bins = np.quantile(rd, [0.2, 0.4, 0.6, 0.8])
    which = np.digitize(rd, bins)
    for b in range(5):  # within each fifth of the estimated risk differences, the true ones average the same
        assert abs(rd[which == b].mean() - (q1 - q0)[which == b].mean()) < 0.04, b
    assert 0.8 < np.polyfit(rd, q1 - q0, 1)[0] < 1.25  # calibration slope: neither too spread nor too flat
    rr = est.relative_effect(X_new, "risk ratio")
    assert rr.scale == "risk ratio" and (rr.ite[:, 0] == 1).all() and (rr.ate[0] == 1)
    assert rr.ate[1] == pytest.approx(q1.mean() / q0.mean(), rel=0.1)
    assert np.corrcoef(np.log(rr.ite[:, 1]), np.log(q1 / q0))[0, 1] > 0.7
    odds = lambda p: p / (1 - p)  # noqa: E731
    oratio = est.relative_effect(X_new, "odds ratio", interval=False)
    assert np.corrcoef(np.log(oratio.ite[:, 1]), np.log(odds(q1) / odds(q0)))[0, 1] > 0.6
    assert oratio.ate[1] == pytest.approx(odds(q1.mean()) / odds(q0.mean()), rel=0.15)
    if est.has_intervals:
        assert (rr.lower[:, 1] <= rr.ite[:, 1] + 1e-12).all() and (rr.ite[:, 1] <= rr.upper[:, 1] + 1e-12).all()
        assert rr.ate_lower[1] < rr.ate[1] < rr.ate_upper[1]


def test_ratios_are_refused_where_differences_are_needed():
    from causalrx.effects import net_benefit
    from causalrx.recommend import recommend

    X, t, y, _, _ = _binary_with_risks(800)
    est = MetaLearner(kind="T", random_state=0).fit(X, t, y)
    rr = est.relative_effect(X[:20])
    with pytest.raises(ValidationError, match="effect: expected effects on the difference scale, got a risk ratio estimate"):
        recommend(rr, np.ones((20, 2), dtype=bool))
    with pytest.raises(ValidationError, match="efficacy: expected effects on the difference scale"):
        net_benefit(rr, est.effect(X[:20]))
    with pytest.raises(ValidationError, match="measure: expected 'risk ratio' or 'odds ratio'"):
        est.relative_effect(X, "hazard ratio")
    Xc, tc, yc, _ = _continuous(300)
    with pytest.raises(ValidationError, match="measure: risk ratio needs a binary"):
        MetaLearner(kind="T", random_state=0).fit(Xc, tc, yc).relative_effect(Xc)


def test_the_baseline_is_calibrated_to_how_much_signal_its_effects_carry():
    """Slope of doubly robust pseudo-effects on the T-learner's out-of-fold effects: near 1 for
    an exponential effect the T-learner captures; near 0 when the true effect is constant and
    the T-learner's effects are noise, so the forest is not centred on that noise."""
    from causalrx.effects.learners import PlugInBaseline

    X, t, y, _ = _exponential(700, seed=3)
    strong = PlugInBaseline(random_state=0)
    strong.fit_offsets(X, t, y, 2)
    rng = np.random.default_rng(8)
    Xn = rng.normal(size=(1500, 30))
    tn = (rng.random(1500) < 0.3).astype(int)
    yn = 0.5 * tn + Xn[:, 0] + rng.normal(0, 2.0, 1500)  # constant effect 0.5, noisy outcome, 30 covariates
    weak = PlugInBaseline(random_state=0)
    offsets = weak.fit_offsets(Xn, tn, yn, 2)
    assert strong.slopes_[1] > 0.6 and weak.slopes_[1] < 0.3, (strong.slopes_, weak.slopes_)
    raw_spread = np.std(np.mean([m[1].predict(Xn) - m[0].predict(Xn) for m in weak.models_], axis=0))
    assert np.std(weak.effects(Xn)[:, 1]) < 0.3 * raw_spread and np.std(offsets[tn == 1]) < 0.3 * raw_spread
    fit, new = slice(0, 1000), slice(1000, None)
    pehe = {name: np.sqrt(np.mean((m.fit(Xn[fit], tn[fit], yn[fit]).point_effect(Xn[new])[:, 1] - 0.5) ** 2))
            for name, m in {"T": MetaLearner(kind="T", random_state=0),
                            "centred": CausalForest(n_estimators=200, random_state=0),
                            "none": CausalForest(n_estimators=200, baseline="none", random_state=0)}.items()}  # fmt: skip
    assert pehe["centred"] < 0.5 * pehe["T"] and pehe["centred"] < 1.2 * pehe["none"], pehe
