"""The estimator contract and the decision object, checked across the package.

* every public estimator is a scikit-learn estimator (``clone``, ``get_params``/``set_params``);
* a fitted learner, selector or policy keeps no training row (a sentinel planted in the
  data is absent from its pickled bytes);
* permuting patients and drugs, with the reference arm moved last, changes nothing once
  results are matched by patient id and drug name: effects, policies, OPE values, tiers.
"""

import importlib
import inspect
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LinearRegression

from causalrx.data.problem import DecisionProblem
from causalrx.effects import AIPW, DML, IPW, CausalForest, DRLearner, MetaLearner, NeuralCATE, RLearner
from causalrx.effects.select import CateSelector
from causalrx.exceptions import ValidationError
from causalrx.ope import DR, SNIPS, estimate_all
from causalrx.policy import (BestSingleDrugPolicy, DRPolicyLearner, EffectGreedyPolicy, LoggedPolicy, OfflineRLPolicy,
                             PolicyTreeLearner, ReferencePolicy, UniformPolicy)  # fmt: skip
from causalrx.policy.baselines import GuidelinePolicy
from causalrx.recommend import recommend

PUBLIC = ("causalrx.effects", "causalrx.policy", "causalrx.prep", "causalrx.encoders", "causalrx.ope", "causalrx.risk")
REQUIRED = {"CateSelector": {"candidates": {"T": MetaLearner(kind="T")}}, "CrossValidatedRegressor": {"candidates": {"ols": LinearRegression()}},
            "GuidelinePolicy": {"steps": [], "action_names": ("ref", "a")}}  # fmt: skip


def _estimator_classes():
    found = {GuidelinePolicy, ReferencePolicy, UniformPolicy}
    for module in PUBLIC:
        mod = importlib.import_module(module)
        for name in mod.__all__:
            obj = getattr(mod, name)
            if inspect.isclass(obj) and hasattr(obj, "fit") and not getattr(obj, "_is_protocol", False):
                found.add(obj)
    return sorted(found, key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", _estimator_classes(), ids=lambda c: c.__name__)
def test_every_public_estimator_clones_with_its_parameters(cls):
    assert issubclass(cls, BaseEstimator), f"{cls.__name__} is not a scikit-learn estimator"
    est = cls(**REQUIRED.get(cls.__name__, {}))
    params = est.get_params(deep=False)
    copy = clone(est)
    assert type(copy) is cls and copy is not est
    assert copy.get_params(deep=False).keys() == params.keys()
    for key, value in params.items():  # clone keeps every hyper-parameter (sub-estimators are cloned themselves)
        other = copy.get_params(deep=False)[key]
        if isinstance(value, BaseEstimator):
            assert type(other) is type(value) and other is not value
        elif isinstance(value, dict):
            assert value.keys() == other.keys()
        else:
            assert other == value
    if "random_state" in params:
        assert est.set_params(random_state=7).random_state == 7


# ----------------------------------------------------------------- no patient rows in a fitted model
SENTINEL_X, SENTINEL_Y, SENTINEL_ID = 424242.123456789, -31337.987654321, "SENTINEL-PATIENT-8f2c"


def _world(n=600, seed=0):
    """Three drugs named out of order, the reference arm ``standard_care`` in the middle; known effects."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    drugs = ("drug_b", "standard_care", "drug_a")
    logits = np.column_stack([0.4 * X[:, 0], np.zeros(n), -0.4 * X[:, 1]])
    e = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    action = (e.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)
    tau = np.column_stack([0.5 + X[:, 2], np.zeros(n), np.full(n, 0.8)])
    reward = X[:, 0] + tau[np.arange(n), action] + rng.normal(scale=0.5, size=n)
    allowed = np.ones((n, 3), bool)
    allowed[: n // 5, 0] = False  # drug_b masked for the first fifth
    ids = np.array([f"P{i:05d}" for i in range(n)], dtype=object)
    return DecisionProblem.from_arrays(X, drugs, "standard_care", patient_ids=ids, feature_names=["age", "egfr", "crp"],
                                       mask=allowed, action=np.asarray(drugs, dtype=object)[action], reward=reward,
                                       propensity=e)  # fmt: skip


def _planted():
    p = _world(n=400, seed=3)
    X = p.X.copy()
    X.iloc[7, 1] = SENTINEL_X
    ids = X.index.to_numpy().copy()
    ids[11] = SENTINEL_ID
    X.index = pd.Index(ids, name="patient_id")
    reward = p.reward.copy()
    reward[5] = SENTINEL_Y
    return DecisionProblem(X=X, drugs=p.drugs, reference=p.reference, mask=p.allowed,
                           action=np.asarray(p.drugs, dtype=object)[p.action], reward=reward, propensity=p.propensity)  # fmt: skip


LEARNERS = {
    "DR-learner": lambda: DRLearner(n_estimators=16, n_folds=2, random_state=0),
    "causal forest": lambda: CausalForest(n_estimators=16, n_folds=2, random_state=0),
    "T-learner": lambda: MetaLearner(kind="T", random_state=0),
    "DragonNet": lambda: NeuralCATE(kind="dragonnet", n_ensemble=1, train={"device": "cpu", "epochs": 3}, random_state=0),
    "R-learner": lambda: RLearner(n_folds=2, random_state=0),
    "IPW": lambda: IPW(random_state=0), "AIPW": lambda: AIPW(n_folds=2, random_state=0), "DML": lambda: DML(n_folds=2, random_state=0),
    "selector": lambda: CateSelector(candidates={"T": MetaLearner(kind="T"), "S": MetaLearner(kind="S")}, n_folds=2, random_state=0),
    "effect-greedy": lambda: EffectGreedyPolicy(estimator=MetaLearner(kind="T", random_state=0)),
    "policy tree": lambda: PolicyTreeLearner(max_depth=2, n_folds=2, random_state=0),
    "DR bandit": lambda: DRPolicyLearner(epochs=20, n_folds=2, random_state=0),
    "clinicians (cloned)": lambda: LoggedPolicy(),
    "best single drug": lambda: BestSingleDrugPolicy(n_folds=2, random_state=0),
}  # fmt: skip


def _bytes_hold(blob: bytes, value: float) -> bool:
    return any(np.asarray(value, dtype=t).tobytes() in blob for t in (np.float64, np.float32)) or repr(value).encode() in blob


@pytest.mark.parametrize("name", list(LEARNERS))
def test_a_fitted_model_holds_no_training_row(name):
    problem = _planted()
    model = LEARNERS[name]().fit(problem)
    blob = pickle.dumps(model)
    assert SENTINEL_ID.encode() not in blob
    assert not _bytes_hold(blob, SENTINEL_X) and not _bytes_hold(blob, SENTINEL_Y)
    # ... and it still predicts, for new patients
    fresh = _world(n=30, seed=9)
    out = model.effect(fresh) if hasattr(model, "effect") else model.action_dist(fresh)
    assert len(out.patient_ids if hasattr(out, "patient_ids") else out.index) == 30


def test_offline_rl_holds_no_training_row():
    from tests.policy.test_offline_rl import two_step

    traj = two_step(60)
    obs = traj.observations.copy()
    obs[3, 0] = SENTINEL_X
    reward = traj.reward.copy()
    reward[4] = SENTINEL_Y
    traj = type(traj)(observations=obs, action=traj.action, reward=reward, episode_id=traj.episode_id, step=traj.step,
                      action_names=traj.action_names)  # fmt: skip
    blob = pickle.dumps(OfflineRLPolicy(n_steps=20, batch_size=16, device="cpu", random_state=0).fit(traj))
    assert not _bytes_hold(blob, SENTINEL_X) and not _bytes_hold(blob, SENTINEL_Y)


# ----------------------------------------------------------------- permutation invariance
def _permuted(problem: DecisionProblem, seed=1) -> DecisionProblem:
    """Patients shuffled, drugs reordered with the reference arm last, covariate columns reversed."""
    rng = np.random.default_rng(seed)
    shuffled = problem.take(rng.permutation(problem.patient_ids))
    others = [d for d in problem.drugs if d != problem.reference][::-1]
    reordered = shuffled.reorder([*others, problem.reference])
    return DecisionProblem(X=reordered.X[reordered.X.columns[::-1]], drugs=reordered.drugs, reference=reordered.reference,
                           mask=reordered.allowed, action=np.asarray(reordered.drugs, dtype=object)[reordered.action],
                           reward=reordered.reward, propensity=reordered.propensity)  # fmt: skip


@pytest.fixture(scope="module")
def problems():
    base = _world()
    return base, _permuted(base)


def test_the_permuted_problem_is_the_same_problem(problems):
    base, perm = problems
    assert perm.drugs[-1] == "standard_care" and perm.reference_index == 2 and base.reference_index == 1
    back = perm.take(base.patient_ids).reorder(base.drugs)
    np.testing.assert_array_equal(back.allowed, base.allowed)
    np.testing.assert_array_equal(back.action, base.action)
    np.testing.assert_allclose(back.propensity, base.propensity)
    np.testing.assert_allclose(back.X[base.X.columns].to_numpy(), base.X.to_numpy())


@pytest.mark.parametrize("make", [lambda: AIPW(n_folds=2, random_state=0), lambda: DRLearner(final="linear", n_folds=2, random_state=0),
                                  lambda: MetaLearner(kind="T", random_state=0), lambda: IPW(random_state=0)])  # fmt: skip
def test_effects_match_by_id_and_name_under_permutation(problems, make):
    """Same estimates within the estimators' own fold randomness: folds follow row order, so
    cross-fitted nuisances differ; the T-learner (no folds) must agree to rounding."""
    base, perm = problems
    a = make().fit(base).effect(base)
    b = make().fit(perm).effect(perm)
    assert b.action_names == perm.drugs and b.reference == "standard_care"
    assert np.all(b.ite[:, perm.reference_index] == 0) and np.all(a.ite[:, base.reference_index] == 0)
    aligned = b.reindex(a.patient_ids, a.action_names)
    exact = isinstance(make(), MetaLearner)
    np.testing.assert_allclose(aligned.ate, a.ate, atol=1e-8 if exact else 0.08)
    if exact:
        np.testing.assert_allclose(aligned.ite, a.ite, atol=1e-8)
    # truth: drug_a +0.8, drug_b +0.5 on average
    assert abs(a.ate[a.action_names.index("drug_a")] - 0.8) < 0.25 and abs(a.ate[a.action_names.index("drug_b")] - 0.5) < 0.25


@pytest.mark.parametrize("make", [lambda: LoggedPolicy(calibration=None), lambda: EffectGreedyPolicy(estimator=MetaLearner(kind="T", random_state=0)),
                                  lambda: PolicyTreeLearner(max_depth=2, n_folds=2, random_state=0), UniformPolicy, ReferencePolicy,
                                  lambda: BestSingleDrugPolicy(n_folds=2, random_state=0)])  # fmt: skip
def test_policies_match_by_id_and_name_under_permutation(problems, make):
    base, perm = problems
    policy = make()
    fitted = policy.fit(base) if hasattr(policy, "fit") else policy
    a = fitted.action_dist(base)
    b = fitted.action_dist(perm)  # the same fitted policy, on the permuted problem: columns matched by name
    assert list(b.columns) == list(perm.drugs) and list(b.index) == list(perm.patient_ids)
    pd.testing.assert_frame_equal(b.loc[a.index, a.columns], a)
    assert (b.to_numpy()[~perm.allowed] == 0).all()
    if isinstance(policy, ReferencePolicy):
        assert (fitted.predict(perm) == "standard_care").all()
    if isinstance(policy, UniformPolicy):
        return  # ties: its most probable drug is a matter of column order
    refit = make()
    refit = refit.fit(perm) if hasattr(refit, "fit") else refit
    agreement = (refit.predict(perm).loc[a.index] == fitted.predict(base)).mean()
    assert agreement > (0.85 if isinstance(policy, (PolicyTreeLearner, EffectGreedyPolicy)) else 0.999)


def test_ope_values_match_under_permutation(problems):
    base, perm = problems
    policy = LoggedPolicy(calibration=None).fit(base)
    dist = policy.action_dist(base)  # ids x drug names, in the base order
    rewards = base.frame(np.tile(base.X[["age"]].to_numpy(), (1, 3)) + np.arange(3))  # a fixed reward model, by label
    values = {label: [r.value for r in estimate_all(p, dist, rewards, [SNIPS(), DR()])] for label, p in (("base", base), ("perm", perm))}
    np.testing.assert_allclose(values["perm"], values["base"], rtol=1e-10)  # the permuted problem reads both by label
    with pytest.raises(ValidationError, match="masked"):  # by position alone, rows and drugs mismatch: caught by the mask
        estimate_all(perm.feedback(), dist.to_numpy(), rewards.to_numpy(), [DR()])


def test_tiers_match_by_id_and_name_under_permutation(problems):
    base, perm = problems
    est = MetaLearner(kind="T", random_state=0).fit(base)
    a = recommend(est.effect(base), base).table.set_index(["patient_id", "drug"])
    b = recommend(est.effect(perm), perm).table.set_index(["patient_id", "drug"])
    cols = ["tier", "rank", "effect", "reason"]
    pd.testing.assert_frame_equal(b.loc[a.index, cols], a[cols])
    assert (b.loc[[(pid, "drug_b") for pid in base.patient_ids[:120]], "tier"] == "contraindicated").all()


def test_mismatched_ids_and_names_are_named_errors(problems):
    base, _ = problems
    with pytest.raises(ValidationError, match="patient id"):
        base.take(["P00001", "nobody"])
    with pytest.raises(ValidationError, match=r"drugs: 1 drug\(s\) unknown"):
        base.reorder(["drug_a", "standard_care", "drug_c"])
    with pytest.raises(ValidationError, match="reference: 'placebo' is not one of the drugs"):
        DecisionProblem(X=base.X, drugs=base.drugs, reference="placebo")
    wrong = pd.DataFrame(base.allowed, index=base.X.index, columns=["x", "y", "z"])
    with pytest.raises(ValidationError, match="mask.columns"):
        DecisionProblem(X=base.X, drugs=base.drugs, reference=base.reference, mask=wrong)
    est = MetaLearner(kind="T", random_state=0).fit(base).effect(base)
    with pytest.raises(ValidationError, match="patient_ids: 1 patient id"):
        est.reindex(patient_ids=["P00000", "ghost"])
