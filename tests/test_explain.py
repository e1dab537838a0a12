"""Per-patient drivers: SHAP on a tree surrogate and a linear surrogate, checked against known modifiers."""

import numpy as np
import pandas as pd
import pytest

from causalrx.data.simulate import simulate_cohort
from causalrx.data.simulate.drugs import CATALOGUE, drug_specs
from causalrx.exceptions import ValidationError
from causalrx.explain import explain_effects, modifier_recall, true_modifiers, variable_of
from causalrx.report.representation import prepared_feature_table


def _cohort(n=800, seed=0):
    rng = np.random.default_rng(seed)
    geno = rng.choice(["poor", "normal", "rapid"], n, p=[0.2, 0.6, 0.2])
    age = rng.normal(60, 10, n)
    noise = rng.normal(size=(n, 4))
    X = pd.DataFrame({"age": age, **{f"geno={g}": (geno == g).astype(float) for g in ("poor", "normal", "rapid")},
                      **{f"x{i}": noise[:, i] for i in range(4)}})  # fmt: skip
    ite = np.column_stack([np.zeros(n), 1.0 - 1.5 * (geno == "poor") + 0.4 * (age > 70), 0.5 * noise[:, 0]])
    return X, ite


def test_shap_ranks_the_true_modifiers_first_and_reproduces_the_effect():
    X, ite = _cohort()
    attr = explain_effects(ite, X, ["ref", "a", "b"], method="shap", random_state=0)
    importance = attr.importance(group=True)  # one-hot columns of geno summed into one variable
    assert list(importance["a"].sort_values(ascending=False).index[:2]) == ["geno", "age"]
    assert importance["b"].idxmax() == "x0"
    assert "ref" not in attr.values and np.isnan(attr.fidelity_r2["ref"])  # nothing to explain in the reference arm
    fitted = attr.values["a"].sum(axis=1) + attr.base["a"]  # local accuracy of TreeSHAP: contributions add up to the surrogate
    assert np.corrcoef(fitted, ite[:, 1])[0, 1] > 0.98 and attr.fidelity_r2["a"] > 0.9
    drivers = attr.drivers(["ref", "a", "b"], 2)
    poor = X["geno=poor"].to_numpy() == 1
    assert all(d.startswith("geno=poor (-") for d in drivers[poor, 1])  # poor metabolisers: the genotype lowers the effect
    assert (drivers[:, 0] == "").all()
    again = explain_effects(ite, X, ["ref", "a", "b"], method="shap", random_state=0)
    assert np.array_equal(again.values["a"], attr.values["a"])  # same seed, same numbers


def test_a_tree_surrogate_follows_a_threshold_that_a_linear_one_smears():
    X, _ = _cohort(seed=1)
    ite = np.column_stack([np.zeros(len(X)), (X["age"] > 70).astype(float)])
    shap_r2 = explain_effects(ite, X, ["ref", "a"], method="shap").fidelity_r2["a"]
    linear_r2 = explain_effects(ite, X, ["ref", "a"], method="linear").fidelity_r2["a"]
    assert shap_r2 > 0.9 and linear_r2 < 0.75


def test_modifiers_of_a_simulated_drug_net_of_harm():
    clopidogrel = true_modifiers(CATALOGUE[0], harm_weight=2.0)
    assert clopidogrel == pytest.approx({"cyp2c19_poor": 0.6, "cyp2c19_intermediate": 0.3, "cyp2c19_rapid": 0.06,
                                         "cyp2c19_ultrarapid": 0.12, "age_gt75": 0.08, "on_nsaid": 0.12})  # fmt: skip
    assert variable_of("genomics.CYP2C19=poor") == "genomics.CYP2C19" and variable_of("age") == "age"


def test_explaining_the_simulators_true_effects_recovers_its_modifiers():
    """Fidelity of the explainer alone: explaining the *true* net effects on the readable covariates,
    the simulator's largest modifiers rank among the top 3 variables."""
    sim = simulate_cohort(n=1500, n_drugs=6, random_state=3, ecg=True)
    ref = sim.cohort.reference_index
    true_net = sim.truth.ite_net - sim.truth.ite_net[:, [ref]]
    readable = prepared_feature_table(sim.cohort)
    names = list(sim.cohort.action_names)
    recall = {m: modifier_recall(explain_effects(true_net, readable, names, method=m), drug_specs(6), harm_weight=2.0).set_index("drug")
              for m in ("shap", "linear")}  # fmt: skip
    assert list(recall["shap"].index) == names[1:]
    assert recall["shap"]["recall_at_3"].mean() >= 0.6 and (recall["shap"]["recall_at_3"] >= 1 / 3).all()
    assert recall["shap"]["recall_at_3"].mean() >= recall["linear"]["recall_at_3"].mean()
    assert "genomics.CYP2C19" in recall["shap"].loc["clopidogrel", "top_3"]


def test_clear_errors():
    X, ite = _cohort(n=50)
    with pytest.raises(ValidationError, match="method: expected one of"):
        explain_effects(ite, X, ["r", "a", "b"], method="lime")
    with pytest.raises(ValidationError, match="X: expected a DataFrame"):
        explain_effects(ite, X.to_numpy(), ["r", "a", "b"])
    with pytest.raises(ValidationError, match=r"ite: expected shape \(50, 2\)"):
        explain_effects(ite, X, ["r", "a"])
    bad = X.assign(age=np.where(np.arange(50) == 3, np.nan, X["age"]))
    with pytest.raises(ValidationError, match=r"X: column\(s\) \['age'\] have missing"):
        explain_effects(ite, bad, ["r", "a", "b"])


def test_integrated_gradients_of_a_risk_head_add_up_and_name_the_risk_factors():
    """The simulator's disease risk rises with age, diabetes, PRS, NT-proBNP, GDF-15 and a long QT;
    integrated gradients of a trained risk head should rank such inputs first."""
    from causalrx.encoders import NeuralEncoder, train_test_ids
    from causalrx.explain import risk_attributions

    sim = simulate_cohort(n=1500, n_drugs=3, random_state=0, ecg=False)
    train, test = train_test_ids(sim.cohort, 0.3, 0)
    encoder = NeuralEncoder(train={"epochs": 20}, random_state=0).fit(sim.cohort, train)
    attrs = risk_attributions(encoder, sim.cohort, test[:300], n_steps=24)
    assert attrs.shape[0] == 300 and list(attrs.index) == list(test[:300])
    logit = np.log(encoder.predict_risk(sim.cohort, test[:300])[0]) - np.log1p(-encoder.predict_risk(sim.cohort, test[:300])[0])
    assert np.abs(attrs.attrs["delta"]).max() < 0.05 * logit.std()  # completeness: attributions add up to the logit's change
    top = list(attrs.abs().mean().sort_values(ascending=False).index[:8])
    known = {"clinical:age", "clinical:diabetes", "genomics:prs", "proteomics:NTPROBNP", "proteomics:GDF15",
             "clinical:qtc_ms"}  # fmt: skip
    assert len(known & set(top)) >= 3, top
    with pytest.raises(ValidationError, match="expected a fitted NeuralEncoder"):
        risk_attributions(object(), sim.cohort)


def test_risk_driver_recall_counts_known_inputs_among_the_top():
    from causalrx.explain import risk_driver_recall

    attrs = pd.DataFrame({"clinical:age": [1.0, -1.0], "proteomics:P0001": [0.5, 0.5], "ecg:lead II": [0.2, -0.3], "clinical:weight": [0.1, 0.0]})
    table, share = risk_driver_recall(attrs, k=3)
    assert list(table["input"]) == ["clinical:age", "proteomics:P0001", "ecg:lead II"]
    assert list(table["known_risk_factor"]) == [True, False, True] and share == pytest.approx(2 / 3)
