"""Safety fails closed: a contraindicating rule that cannot be decided never lets its drug through.

Odd spellings are read through the synonym table; values it does not know are named errors;
missing values leave the rule not evaluable, which masks the drug (pending data) in the
mask, in ``recommend``'s tiers and in every policy's choice.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from causalrx.data.feedback import Trajectories
from causalrx.effects.estimate import EffectEstimate
from causalrx.exceptions import ValidationError
from causalrx.policy import (
    DRPolicyLearner, EffectGreedyPolicy, LoggedPolicy, OfflineRLPolicy, PolicyTreeLearner, ReferencePolicy, UniformPolicy,
)  # fmt: skip
from causalrx.recommend import recommend
from causalrx.safety import NotEvaluableWarning, RuleSet
from causalrx.safety.vocabulary import default_vocabulary

DRUGS = ("standard_care", "clopidogrel", "simvastatin", "sotalol", "abacavir", "carbamazepine", "voriconazole", "fluorouracil")
RULES = RuleSet.default()
VOCAB = default_vocabulary()


def _effect(ite, names=DRUGS):
    ite = np.asarray(ite, dtype=float)
    ate = ite.mean(axis=0)
    return EffectEstimate(ite, ite - 0.1, ite + 0.1, ate, ate - 0.1, ate + 0.1, "given", tuple(names))


@pytest.mark.parametrize(("value", "outcome"), [("Positive", "fired"), ("pos", "fired"), ("+", "fired"), ("carrier", "fired"),
                                                 (None, "pending"), ("unknown", "pending"), ("not tested", "pending"),
                                                 ("NEGATIVE", "allowed"), ("non-carrier", "allowed")])  # fmt: skip
def test_hla_b5701_values_and_abacavir(value, outcome):
    table = pd.DataFrame({"patient_id": ["a", "b"], "HLA-B*57:01": [value, "negative"]})
    mask = RULES.evaluate(table, ("standard_care", "abacavir"), "standard_care")
    rec = recommend(_effect([[0.0, 5.0], [0.0, 5.0]], ("standard_care", "abacavir")), mask)
    row = rec.table[(rec.table["patient_id"] == "a") & (rec.table["drug"] == "abacavir")].iloc[0]
    if outcome == "allowed":
        assert row["tier"] == "recommended" and row["pending_data"] == ""
        return
    assert row["tier"] == "contraindicated" and "HLA-B*57:01" in row["reason"] and "cpic-hlab5701-abacavir" in row["reason"]
    assert (row["pending_data"] == "HLA-B*57:01") == (outcome == "pending")
    assert ("not evaluable" in row["reason"]) == (outcome == "pending")
    assert mask.allowed[1, 1]  # the tested negative patient keeps abacavir


def test_unknown_level_is_a_named_error_listing_the_accepted_levels():
    table = pd.DataFrame({"patient_id": ["a", "b", "c"], "HLA-B*57:01": ["weakly positive", "pos", "weakly positive"]})
    with pytest.raises(ValidationError, match=r"HLA-B\*57:01: value\(s\) 'weakly positive' \(2 patients\) are not accepted.*'positive'"):
        RULES.evaluate(table, ("standard_care", "abacavir"), "standard_care")
    with pytest.raises(ValidationError, match=r"egfr: value\(s\) '25 mL/min'"):
        RULES.check(pd.DataFrame({"patient_id": ["a"], "egfr": ["25 mL/min"]}))
    with pytest.raises(ValidationError, match=r"pregnant: value\(s\) 'maybe'"):
        RULES.check(pd.DataFrame({"patient_id": ["a"], "pregnant": ["maybe"]}))
    with pytest.raises(ValidationError, match="egfr: 1 infinite"):
        RULES.check(pd.DataFrame({"patient_id": ["a"], "egfr": [np.inf]}))


def test_caution_option_lets_undecided_drugs_through_flagged_and_warned():
    table = pd.DataFrame({"patient_id": ["a"], "HLA-B*57:01": [None]})
    with pytest.warns(NotEvaluableWarning, match="1 cell"):
        mask = RULES.evaluate(table, ("standard_care", "abacavir"), "standard_care", not_evaluable="caution")
    assert mask.allowed[0, 1] and mask.flagged[0, 1] and mask.not_evaluable[0, 1] and mask.on_not_evaluable == "caution"
    assert "not evaluable" in mask.cell_notes()[0][0, 1]
    with pytest.raises(ValidationError, match="not_evaluable: expected one of"):
        RULES.evaluate(table, ("standard_care", "abacavir"), "standard_care", not_evaluable="allow")


def test_declared_indication_selects_the_rules_and_is_checked():
    table = pd.DataFrame({"patient_id": ["a"], "CYP2C19": ["IM"], "on_omeprazole": [False]})
    strict = RULES.evaluate(table, ("standard_care", "clopidogrel"), "standard_care")  # no indication: every rule applies
    cv = RULES.evaluate(table, ("standard_care", "clopidogrel"), "standard_care",
                        indications={"clopidogrel": "non-ACS non-PCI cardiovascular"})  # fmt: skip
    neuro = RULES.evaluate(table, ("standard_care", "clopidogrel"), "standard_care", indications={"clopidogrel": "neurovascular"})
    assert not strict.allowed[0, 1] and cv.allowed[0, 1] and not cv.flagged[0, 1] and neuro.allowed[0, 1] and neuro.flagged[0, 1]
    with pytest.raises(ValidationError, match="'ACS' is not an indication"):
        RULES.evaluate(table, ("standard_care", "clopidogrel"), "standard_care", indications={"clopidogrel": "ACS"})


# --- property: nothing undecided is ever chosen -------------------------------------------------
FIELDS = sorted({f for r in RULES.rules if set(r.drugs) & set(DRUGS) for f in r.fields})
MISSING = [None, np.nan, "unknown", "Not tested", "", "indeterminate"]


def _values(name):
    spec = VOCAB.fields[name]
    if spec["type"] == "number":
        return st.one_of(st.floats(0, 700), st.sampled_from(["25", "480"]), st.sampled_from(MISSING))
    if spec["type"] == "boolean":
        return st.sampled_from([True, False, "yes", "No", "TRUE", 0, 1] + MISSING)
    spellings = [v for level in spec["values"] for v in [level, level.upper(), *spec["synonyms"].get(level, [])]]
    return st.sampled_from(spellings + MISSING)


@pytest.fixture(scope="module")
def learners():
    rng = np.random.default_rng(0)
    n, k = 400, len(DRUGS)
    Z = rng.normal(size=(n, 3))
    action = rng.integers(0, k, n)
    reward = Z[:, 0] * (action == 1) + rng.normal(0, 0.5, n)
    out = {
        "logged": LoggedPolicy(calibration=None).fit(Z, action, n_actions=k),
        "uniform": UniformPolicy(n_actions=k),
        "reference": ReferencePolicy(n_actions=k, reference=0),
        "tree": PolicyTreeLearner(max_depth=2, n_folds=2, random_state=0).fit(Z, action, reward, n_actions=k),
        "dr-bandit": DRPolicyLearner(epochs=20, n_folds=2, random_state=0).fit(Z, action, reward, n_actions=k),
    }
    from causalrx.effects import MetaLearner

    out["effect-greedy"] = EffectGreedyPolicy(estimator=MetaLearner(kind="T")).fit(Z, action, reward, n_actions=k)
    traj = Trajectories(observations=Z, action=action, reward=reward, episode_id=np.repeat(np.arange(n // 2), 2),
                        step=np.tile([0, 1], n // 2), action_names=DRUGS, pscore=np.full(n, 1 / k))  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["offline-rl-cql"] = OfflineRLPolicy(algorithm="cql", n_steps=50, batch_size=64, device="cpu", random_state=0).fit(traj)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), n=st.integers(1, 12))
def test_no_undecided_contraindication_is_ever_chosen(learners, data, n):
    table = pd.DataFrame({"patient_id": [f"p{i}" for i in range(n)],
                          **{f: [data.draw(_values(f)) for _ in range(n)] for f in FIELDS}})  # fmt: skip
    mask = RULES.evaluate(table, DRUGS, "standard_care")
    blocked = mask.not_evaluable | mask.contraindicated
    assert not (mask.allowed & blocked).any() and not (mask.allowed[:, 0] == 0).any()
    ite = np.array(data.draw(st.lists(st.floats(-5, 5), min_size=n * len(DRUGS), max_size=n * len(DRUGS)))).reshape(n, -1)
    ite[:, 0] = 0.0
    rec = recommend(_effect(ite), mask)
    tiers = rec.table["tier"].to_numpy().reshape(n, -1)
    assert (tiers[blocked] == "contraindicated").all() and (tiers == "recommended").sum() == n
    pending = rec.table["pending_data"].to_numpy().reshape(n, -1)
    assert all(p and all(f in VOCAB.fields for f in p.split(", ")) for p in pending[mask.pending])
    Z = np.random.default_rng(n).normal(size=(n, 3))
    for name, policy in learners.items():
        dist = policy.action_dist(Z, mask)
        assert np.all(dist[blocked] == 0), name
        assert np.all(blocked[np.arange(n), policy.predict(Z, mask)] == 0), name
