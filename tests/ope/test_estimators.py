"""One-step estimators: hand-computed values, identities, intervals, bad inputs.

The tiny data set (4 rounds, 2 drugs), by hand::

    action a = [0, 1, 1, 0]    reward r = [1, 0, 2, 3]    pscore = [0.5, 0.25, 0.5, 0.8]
    target pi(a_i | x_i) = [1, 0.5, 1, 0.2]          -> w = [2, 2, 2, 0.25]
    q(x, .) = [[1, .5], [.2, .4], [1.5, 1], [2, 1]]  -> q(x_i, a_i) = [1, .4, 1, 2]
    q_pi = [1, .3, 1, 1.2]                           residual r - q(x_i, a_i) = [0, -.4, 1, 1]

    IPS    = (2 + 0 + 4 + .75) / 4                      = 1.6875
    SNIPS  = 6.75 / 6.25                                = 1.08
    DM     = 3.5 / 4                                    = 0.875
    DR     = (3.5 + (0 - .8 + 2 + .25)) / 4             = 1.2375
    SNDR   = .875 + 1.45 / 6.25                         = 1.107
    Switch-DR (tau = 1): only w = .25 is kept           = (3.5 + .25) / 4 = 0.9375
    DR-os (lambda = 4): w' = 4w / (w^2 + 4) = [1, 1, 1, 1/4.0625]
                         -> (3.5 + (0 - .4 + 1 + .246154)) / 4 = 1.0865385
    IPS clipped at 1: (1 + 0 + 2 + .75) / 4             = 0.9375
"""

import warnings

import numpy as np
import pytest

from causalrx.data import BanditFeedback
from causalrx.exceptions import PositivityError, ValidationError
from causalrx.ope import DM, DR, IPS, SNDR, SNIPS, Bootstrap, DRos, NormalInterval, OverlapWarning, SwitchDR, estimate_all
from causalrx.ope.inference import influence_values

ACTION = np.array([0, 1, 1, 0])
REWARD = np.array([1.0, 0.0, 2.0, 3.0])
PSCORE = np.array([0.5, 0.25, 0.5, 0.8])
TARGET = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [0.2, 0.8]])
Q = np.array([[1.0, 0.5], [0.2, 0.4], [1.5, 1.0], [2.0, 1.0]])


@pytest.fixture
def tiny():
    return BanditFeedback(context=np.zeros((4, 1)), action=ACTION, reward=REWARD, action_names=("ref", "drug"), pscore=PSCORE)


@pytest.mark.parametrize(
    "estimator, expected",
    [
        (IPS(), 1.6875),
        (IPS(clip=1.0), 0.9375),
        (SNIPS(), 1.08),
        (DM(), 0.875),
        (DR(), 1.2375),
        (SNDR(), 1.107),
        (SwitchDR(tau=1.0), 0.9375),
        (DRos(lambda_=4.0), (3.5 + (-0.4 + 1 + 1 / 4.0625)) / 4),
    ],
)
def test_hand_computed_values(tiny, estimator, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OverlapWarning)
        result = estimator.estimate(tiny, TARGET, Q)
    assert result.value == pytest.approx(expected, abs=1e-12)
    assert result.propensity_source == "logged"
    assert result.lower <= result.value <= result.upper


def test_normal_interval_by_hand(tiny):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OverlapWarning)
        res = IPS().estimate(tiny, TARGET, inference=NormalInterval(alpha=0.05))
    terms = np.array([2.0, 0.0, 4.0, 0.75])
    se = terms.std(ddof=1) / 2
    assert res.std_error == pytest.approx(se)
    assert res.lower == pytest.approx(1.6875 - 1.959964 * se, abs=1e-5)
    # the ratio's influence value is (w r - theta w) / mean(w)
    cols = np.column_stack([terms, [2, 2, 2, 0.25]])
    np.testing.assert_allclose(
        influence_values(cols, lambda m: m[..., 0] / m[..., 1]), (terms - 1.08 * cols[:, 1]) / 1.5625, rtol=1e-5
    )


def test_identities(tiny):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OverlapWarning)
        zero = np.zeros_like(Q)
        assert DR().estimate(tiny, TARGET, zero).value == pytest.approx(IPS().estimate(tiny, TARGET).value)
        assert SwitchDR(tau=np.inf).estimate(tiny, TARGET, Q).value == pytest.approx(DR().estimate(tiny, TARGET, Q).value)
        assert DRos(lambda_=np.inf).estimate(tiny, TARGET, Q).value == pytest.approx(DR().estimate(tiny, TARGET, Q).value)
        assert SwitchDR(tau=1e-9).estimate(tiny, TARGET, Q).value == pytest.approx(0.875)  # all switched to DM
    # weights averaging exactly 1: SNIPS = IPS
    fb = BanditFeedback(context=np.zeros((4, 1)), action=ACTION, reward=REWARD, action_names=("r", "d"),
                        pscore=np.array([0.5, 0.5, 0.5, 0.5]))  # fmt: skip
    target = np.array([[0.25, 0.75], [0.75, 0.25], [0.5, 0.5], [0.5, 0.5]])  # w = [.5, .5, 1, 1] ... mean .75
    target[0] = [0.75, 0.25]  # w = [1.5, .5, 1, 1] -> mean 1
    ips, snips = IPS().estimate(fb, target).value, SNIPS().estimate(fb, target).value
    assert ips == pytest.approx(snips)


def test_dm_exact_with_true_reward_model_and_dr_unbiased_on_simulator():
    from causalrx.data.simulate import simulate_cohort

    sim = simulate_cohort(n=4000, n_drugs=5, random_state=12, ecg=False)
    fb = sim.bandit_feedback()
    target = 0.7 * sim.oracle_policy() + 0.3 / 5
    truth = sim.true_policy_value(target)
    exact = sim.truth.expected_reward
    assert DM().estimate(fb, target, exact).value == pytest.approx(truth, abs=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OverlapWarning)
        dr = DR().estimate(fb, target, exact)
    assert dr.lower < truth < dr.upper


def test_ips_with_true_propensities_unbiased_over_seeds():
    from causalrx.data.simulate import simulate_cohort

    errors = []
    for seed in range(40):
        sim = simulate_cohort(n=1500, n_drugs=4, random_state=100 + seed, ecg=False)
        target = np.full((1500, 4), 0.25)
        fb = sim.bandit_feedback(context=np.zeros((1500, 1)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OverlapWarning)
            errors.append(IPS().estimate(fb, target).value - sim.true_policy_value(target))
    errors = np.array(errors)
    assert abs(errors.mean()) < 3 * errors.std(ddof=1) / np.sqrt(len(errors))


def test_bootstrap_ratio_resamples_numerator_and_denominator_together():
    """Constant reward 1: SNIPS is exactly 1 on every resample, so the correct bootstrap interval is [1, 1].

    Normalising per-round values on the full sample first (w_i r_i / mean(w)) and then
    resampling them, as Open Bandit Pipeline does, invents an interval of non-zero width.
    """
    rng = np.random.default_rng(0)
    n = 2000
    pscore = rng.uniform(0.05, 1.0, n)
    fb = BanditFeedback(context=np.zeros((n, 1)), action=np.zeros(n, int), reward=np.ones(n), action_names=("a", "b"), pscore=pscore)
    target = np.column_stack([np.ones(n), np.zeros(n)])
    res = SNIPS().estimate(fb, target, inference=Bootstrap(n_bootstrap=300, random_state=1))
    assert res.value == pytest.approx(1.0)
    assert res.upper - res.lower < 1e-9
    w = 1 / pscore
    per_round = w * 1.0 / w.mean()
    boots = [per_round[rng.integers(0, n, n)].mean() for _ in range(300)]
    assert np.quantile(boots, 0.975) - np.quantile(boots, 0.025) > 0.05


def test_bootstrap_matches_normal_interval_and_is_reproducible():
    rng = np.random.default_rng(1)
    n = 3000
    fb = BanditFeedback(context=np.zeros((n, 1)), action=rng.integers(0, 3, n), reward=rng.normal(size=n),
                        action_names=("a", "b", "c"), pscore=np.full(n, 1 / 3))  # fmt: skip
    target = np.tile([0.2, 0.3, 0.5], (n, 1))
    normal = SNIPS().estimate(fb, target)
    for method in ("percentile", "bca"):
        boot = SNIPS().estimate(fb, target, inference=Bootstrap(n_bootstrap=400, method=method, random_state=3))
        assert boot.std_error == pytest.approx(normal.std_error, rel=0.15)
        assert boot.lower == pytest.approx(normal.lower, abs=0.3 * normal.std_error * 2)
        again = SNIPS().estimate(fb, target, inference=Bootstrap(n_bootstrap=400, method=method, random_state=3))
        assert (again.lower, again.upper) == (boot.lower, boot.upper)
    big = BanditFeedback(context=np.zeros((60_000, 1)), action=rng.integers(0, 3, 60_000), reward=rng.normal(size=60_000),
                         action_names=("a", "b", "c"), pscore=np.full(60_000, 1 / 3))  # fmt: skip  (Poisson resampling)
    t = np.tile([0.2, 0.3, 0.5], (60_000, 1))
    assert SNIPS().estimate(big, t, inference=Bootstrap(n_bootstrap=300, random_state=0)).std_error == pytest.approx(
        SNIPS().estimate(big, t).std_error, rel=0.15
    )


def test_tuning_rules_pick_parameters():
    from causalrx.ope import select_parameter

    rng = np.random.default_rng(0)

    def unit(size=1000):
        z = rng.normal(size=size)
        return (z - z.mean()) / z.std(ddof=1)

    columns = {1.0: 5.0 + 0.01 * unit(), 2.0: 0.1 + 0.01 * unit(), np.inf: 0.0 + 10 * unit()}
    grid = np.array([1.0, 2.0, np.inf])
    noisy_bias = lambda c: columns[np.inf] - columns[c]  # noqa: E731
    # SLOPE keeps clipping while the +/- 2 se intervals intersect: 2.0 yes, 1.0 no
    chosen, table = select_parameter(lambda c: columns[c], noisy_bias, grid, 1000, "slope")
    assert chosen == 2.0 and len(table) == 3
    # the MSE rule with a high-confidence bias bound will not clip when the bias is not pinned down
    assert select_parameter(lambda c: columns[c], noisy_bias, grid, 1000, "mse")[0] == np.inf
    # ... and clips when the bias is small and precisely estimated
    precise_bias = {1.0: 5.0 + 0.01 * unit(), 2.0: 0.001 + 0.001 * unit(), np.inf: np.zeros(1000)}
    assert select_parameter(lambda c: columns[c], lambda c: precise_bias[c], grid, 1000, "mse")[0] == 2.0
    with pytest.raises(ValidationError, match="tuning"):
        select_parameter(lambda c: columns[c], noisy_bias, np.array([1.0]), 1000, "aic")


@pytest.mark.parametrize("estimator, fixed, rule", [(SwitchDR(tuning="slope"), "tau", "slope"),
                                                   (DRos(tuning="slope"), "lambda", "slope"), (SwitchDR(), "tau", "mse")])
def test_tuned_estimators_repeat_their_choice_in_every_resample(estimator, fixed, rule):
    """The tuned point estimate is unchanged, and each bootstrap resample re-runs the choice (on the full data's
    grid): checked resample by resample against select_parameter on the resampled rounds."""
    from causalrx.ope import select_parameter
    from causalrx.ope.estimators import _candidates, _results, prepare

    rng = np.random.default_rng(1)
    n = 400
    pscore = np.exp(rng.uniform(np.log(0.02), np.log(0.9), n))  # heavy-tailed weights: an unstable choice
    action = (rng.random(n) < 0.5).astype(int)
    reward = rng.normal(1.0, 1.0, n) + 0.3 * (pscore < 0.1)
    target = np.tile([0.2, 0.8], (n, 1))
    q = np.full((n, 2), 1.0)
    fb = BanditFeedback(context=np.zeros((n, 1)), action=action, reward=reward, action_names=("ref", "drug"), pscore=pscore)
    p = prepare(fb, target, q, needs_rewards=True)
    tuned = _results([estimator], p, NormalInterval())[0]
    chosen = tuned.params[fixed]
    at_choice = type(estimator)(**{("lambda_" if fixed == "lambda" else fixed): chosen}).estimate(fb, target, q)
    assert tuned.value == pytest.approx(at_choice.value)
    columns, combine, _ = estimator.columns(p)
    boot = Bootstrap(n_bootstrap=40, random_state=3)
    grid = _candidates(p.weight)
    counts = [np.random.Generator(np.random.PCG64(s)).multinomial(n, np.full(n, 1 / n), size=min(25, 40 - 25 * i))
              for i, s in enumerate(np.random.SeedSequence(3).spawn(2))]  # the resamples Bootstrap draws
    replicate = combine(boot.replicate_means(columns))
    transform = (lambda w, c: (w <= c) * w) if fixed == "tau" else (lambda w, c: w if np.isinf(c) else c * w / (w**2 + c))
    by_hand, picks = [], set()
    for rows in (np.repeat(np.arange(n), c) for block in counts for c in block):
        w, base, res = p.weight[rows], p.q_policy[rows], (p.reward - p.q_logged)[rows]
        pick, _ = select_parameter(lambda c: base + transform(w, c) * res, lambda c: (w - transform(w, c)) * res, grid, n, rule)
        picks.add(pick)
        by_hand.append((base + transform(w, pick) * res).mean())
    np.testing.assert_allclose(replicate, by_hand, rtol=1e-9, atol=1e-12)
    assert len(picks) > 1  # the choice does vary between resamples here
    assert _results([estimator], p, Bootstrap(n_bootstrap=400, random_state=0))[0].upper != pytest.approx(
        at_choice.upper, abs=1e-9)


def test_overlap_warning_object():
    n = 200
    pscore = np.full(n, 0.5)
    pscore[:5] = 0.002
    fb = BanditFeedback(context=np.zeros((n, 1)), action=np.zeros(n, int), reward=np.ones(n), action_names=("a", "b"), pscore=pscore)
    with pytest.warns(OverlapWarning, match="effective sample size"):
        res = IPS().estimate(fb, np.tile([1.0, 0.0], (n, 1)))
    d = res.diagnostics
    assert [w.metric for w in d.warnings] == ["ess_ratio"]
    w = 1 / pscore
    assert d.max_weight == 500.0 and d.ess == pytest.approx(w.sum() ** 2 / np.sum(w**2))
    assert d.share_low_pscore == pytest.approx(5 / n)


def test_mask_refusal_audit_and_positivity(tiny):
    mask = np.array([[True, True], [True, False], [True, True], [True, True]])
    fb = BanditFeedback(context=np.zeros((4, 1)), action=ACTION, reward=REWARD, action_names=("r", "d"), pscore=PSCORE, mask=mask)
    with pytest.raises(ValidationError, match=r"masked \(unsafe\) drug in 1 round"):
        IPS().estimate(fb, TARGET)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OverlapWarning)
        res = IPS().estimate(fb, TARGET, allow_mask_violation=True)
    assert res.diagnostics.mask_violation_rate == 0.25
    from causalrx.ope import audit

    report = audit(fb)
    assert report.n_masked == 1 and report.rate == 0.25
    assert report.by_drug.set_index("drug").loc["d", "masked"] == 1
    no_ps = BanditFeedback(context=np.zeros((4, 1)), action=ACTION, reward=REWARD, action_names=("r", "d"))
    logging = np.array([[0.5, 0.5], [0.75, 0.25], [0.5, 0.5], [1.0, 0.0]])
    with pytest.raises(PositivityError, match="logging probability 0 in 1 round"):
        IPS().estimate(no_ps, TARGET, logging_dist=logging)
    logging[3] = [0.8, 0.2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OverlapWarning)
        given = IPS().estimate(no_ps, TARGET, logging_dist=logging)
    assert given.value == pytest.approx(1.6875) and given.propensity_source == "given"
    from causalrx.ope import compare_policies

    with pytest.raises(ValidationError, match="masked"):
        compare_policies(fb, {"target": TARGET}, estimators=[IPS()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OverlapWarning)
        table = compare_policies(fb, {"target": TARGET, "reference only": np.tile([1.0, 0.0], (4, 1))}, estimators=[IPS()],
                                 allow_mask_violation=True).table.set_index("policy")  # fmt: skip
    assert table.loc["target", "mask_violations"] == 0.25 and table.loc["reference only", "mask_violations"] == 0.0
    assert table.loc["target", "value"] == pytest.approx(res.value)


def test_estimated_propensity_is_reported_and_close():
    rng = np.random.default_rng(5)
    n, k = 8000, 3
    x = rng.normal(size=(n, 2))
    logits = x @ np.array([[0.0, 1.0, -0.5], [0.0, -0.5, 1.0]])
    logging = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    a = np.minimum((logging.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1), k - 1)
    r = x[:, 0] * (a == 1) + rng.normal(size=n)
    target = np.full((n, k), 1 / 3)
    names = ("a", "b", "c")
    logged = IPS().estimate(BanditFeedback(context=x, action=a, reward=r, action_names=names, pscore=logging[np.arange(n), a]), target)
    est = IPS().estimate(BanditFeedback(context=x, action=a, reward=r, action_names=names), target)
    assert est.propensity_source == "estimated" and logged.propensity_source == "logged"
    assert abs(est.value - logged.value) < logged.std_error


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"action_dist": np.ones((3, 2)) / 2}, r"action_dist: expected shape \(4, 2\)"),
        ({"action_dist": np.array([[0.5, 0.5]] * 3 + [[0.6, 0.6]])}, r"action_dist: 1 row\(s\) do not sum to 1"),
        ({"action_dist": np.array([[1.5, -0.5]] * 4)}, r"action_dist: 4 row\(s\) have negative probabilities"),
        ({"action_dist": np.array([[np.nan, 1]] * 4)}, r"action_dist: 4 row\(s\) contain NaN"),
        ({"estimated_rewards": np.ones((4, 3))}, r"estimated_rewards: expected shape \(4, 2\)"),
        ({"estimated_rewards": np.array([[np.nan, 1]] * 4)}, r"estimated_rewards: 4 row\(s\) contain NaN"),
        ({"estimated_rewards": None}, r"estimated_rewards: this estimator needs a reward model"),
    ],
)
def test_bad_inputs(tiny, kwargs, message):
    args = {"action_dist": TARGET, "estimated_rewards": Q}
    args.update(kwargs)
    with pytest.raises(ValidationError, match=message):
        DR().estimate(tiny, args["action_dist"], args["estimated_rewards"])


def test_bad_logging_distribution():
    fb = BanditFeedback(context=np.zeros((4, 1)), action=ACTION, reward=REWARD, action_names=("r", "d"))
    with pytest.raises(ValidationError, match=r"logging_dist: 1 row\(s\) have negative probabilities"):
        IPS().estimate(fb, TARGET, logging_dist=np.array([[0.5, 0.5], [1.2, -0.2], [0.5, 0.5], [0.5, 0.5]]))
    with pytest.raises(ValidationError, match=r"logging_dist: expected shape \(4, 2\)"):
        IPS().estimate(fb, TARGET, logging_dist=np.full((4, 3), 1 / 3))


def test_bad_parameters(tiny):
    with pytest.raises(ValidationError, match="clip: expected a positive number"):
        IPS(clip=-1.0).estimate(tiny, TARGET)
    with pytest.raises(ValidationError, match="alpha"):
        IPS().estimate(tiny, TARGET, inference=NormalInterval(alpha=1.5))
    with pytest.raises(ValidationError, match="n_bootstrap"):
        IPS().estimate(tiny, TARGET, inference=Bootstrap(n_bootstrap=2))
    with pytest.raises(ValidationError, match="method"):
        IPS().estimate(tiny, TARGET, inference=Bootstrap(method="studentized"))


def test_estimate_all_and_compare(tiny, tmp_path):
    from causalrx.ope import compare_policies

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OverlapWarning)
        results = estimate_all(tiny, TARGET, Q, [IPS(), DR()])
        assert [r.estimator for r in results] == ["IPS", "DR"]
        assert results[1].value == pytest.approx(1.2375)
        comp = compare_policies(tiny, {"target": TARGET, "uniform": np.full((4, 2), 0.5)}, Q, [IPS(), SNIPS(), DR()],
                                true_values={"target": 1.0, "uniform": 1.2}, plot_path=tmp_path / "forest.png")  # fmt: skip
    assert len(comp.table) == 6 and set(comp.table["policy"]) == {"target", "uniform"}
    assert "covered" in comp.table and comp.plot_path.is_file() and comp.plot_path.stat().st_size > 5000
