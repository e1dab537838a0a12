"""The autoimmune scenarios: X-escape dosage by hand, subgroup truth against samples, recovery."""

import numpy as np
import pandas as pd
import pytest

from causalrx.data.simulate import autoimmune as ai
from causalrx.data.simulate import simulate_cohort
from causalrx.effects import AIPW, cohort_inputs
from causalrx.effects.subgroups import group_effects
from causalrx.exceptions import ValidationError
from causalrx.report.representation import prepared_feature_table


def test_x_escape_activity_by_hand():
    # TLR7: escape 0.3, gain 0.6. Men 1 + 0.6 d; women 1.3 (1 + 0.3 d).
    act = ai.TLR7.activity(np.array([False, False, True, True, True]), np.array([0, 1, 0, 1, 2]))
    np.testing.assert_allclose(act, [1.0, 1.6, 1.3, 1.69, 2.08])
    # a risk allele adds 0.6 in a man but 0.39 in a heterozygous woman (mosaic X-inactivation)
    assert act[1] - act[0] == pytest.approx(0.6) and act[3] - act[2] == pytest.approx(0.39)
    # means under Hardy-Weinberg, q = 0.2: men 1.12, women 1.3 * 1.12
    assert ai.TLR7.mean_activity(False) == pytest.approx(1.12) and ai.TLR7.mean_activity(True) == pytest.approx(1.456)
    assert sum(ai.TLR7.genotype_probabilities(True).values()) == pytest.approx(1.0)


def test_lupus_cell_truth_by_hand():
    prof = ai.profile("lupus")
    table = ai.true_subgroup_effects(prof, ai.drug_specs(prof, 4), harm_weight=2.0).set_index(["sex", "tlr7_dosage", "drug"])
    # population TLR7 mean: 0.1 * 1.12 + 0.9 * 1.456 = 1.4224; HCQ benefit 0.35 + 1.0 * tlr7_x
    hcq = table.xs("hydroxychloroquine", level="drug")["efficacy"]
    assert hcq[("M", 0)] == pytest.approx(0.35 + 1.0 - 1.4224)
    assert hcq[("F", 2)] == pytest.approx(0.35 + 2.08 - 1.4224)
    # women - men at the same genotype: the escaping copy, 0.3 of activity
    assert hcq[("F", 0)] - hcq[("M", 0)] == pytest.approx(0.3)
    shares = table.xs("hydroxychloroquine", level="drug")["share"]
    assert shares.sum() == pytest.approx(1.0) and shares[("M", 1)] == pytest.approx(0.1 * 0.2)


@pytest.mark.parametrize("scenario", ["lupus", "vkh", "kawasaki"])
def test_stated_subgroup_truth_matches_the_sample(scenario):
    sim = simulate_cohort(n=60_000, random_state=3, scenario=scenario, ecg=False)
    prof, t = ai.profile(scenario), sim.truth
    female = (t.traits["sex"] == "F").to_numpy()
    assert female.mean() == pytest.approx(prof.female_share, abs=0.01)
    np.testing.assert_allclose(t.ite_net.mean(axis=0), t.ate_net, atol=0.02)
    table = ai.true_subgroup_effects(prof, ai.drug_specs(prof, 4), t.harm_weight)
    for row in table.itertuples():
        members = (female == (row.sex == "F")) & (t.traits[ai.TLR7.variant_id].to_numpy() == row.tlr7_dosage)
        j = t.action_names.index(row.drug)
        ite = t.ite_efficacy[members, j]
        assert members.mean() == pytest.approx(row.share, abs=0.01)
        assert abs(ite.mean() - row.efficacy) < 4 * ite.std() / np.sqrt(members.sum()) + 1e-9, (row, ite.mean())


def test_sex_aware_coding_ages_and_tables():
    sim = simulate_cohort(n=3000, random_state=1, scenario="kawasaki", ecg=False)
    c = sim.cohort
    g = c.genomics.merge(c.clinical[["patient_id", "sex"]], on="patient_id")
    for variant in (ai.TLR7.variant_id, ai.KDM6A.variant_id):
        assert set(g.loc[g["sex"] == "M", variant].dropna().unique()) <= {0, 1}
        assert set(g.loc[g["sex"] == "F", variant].dropna().unique()) == {0, 1, 2}
    v = c.variants.set_index("variant_id")
    assert v.loc[ai.KDM6A.variant_id, "gene"] == "KDM6A" and bool(v.loc[ai.KDM6A.variant_id, "escapes_x_inactivation"])
    assert c.clinical["age"].between(0.2, 17).all() and not c.clinical["pregnant"].any()  # children
    assert c.action_names == ("standard_care", "ivig", "infliximab", "prednisolone")
    assert "disease_activity" in c.clinical and c.metadata["disease"].startswith("Kawasaki")
    again = simulate_cohort(n=3000, random_state=1, scenario="kawasaki", ecg=False)
    pd.testing.assert_frame_equal(again.cohort.clinical, c.clinical)


def test_bad_scenario_and_drug_count_are_named():
    with pytest.raises(ValidationError, match="scenario must be one of"):
        simulate_cohort(n=100, scenario="asthma", ecg=False)
    with pytest.raises(ValidationError, match=r"n_drugs must be in 2\.\.4 for scenario 'lupus'"):
        simulate_cohort(n=100, n_drugs=6, scenario="autoimmune", ecg=False)
    assert simulate_cohort(n=100, n_drugs=3, scenario="vkh", ecg=False).cohort.action_names == ("standard_care", "prednisone", "cyclosporine")


def test_named_variants_join_the_prepared_covariates():
    cohort = simulate_cohort(n=600, random_state=2, scenario="lupus", ecg=False).cohort
    plain = prepared_feature_table(cohort, 0)
    named = prepared_feature_table(cohort, 0, named_variants=True)
    added = sorted(set(named.columns) - set(plain.columns))
    assert added == sorted(["rs4149056", "rs9923231", "rs1050828", "rs179008", ai.KDM6A.variant_id])
    assert not any(col.startswith(("snp", "xsnp")) for col in named.columns)


def test_aipw_recovers_sex_by_tlr7_cells():
    """Every genotyped cell's simultaneous interval holds its closed-form GATE, and HCQ's
    estimated women - men difference at TLR7 dosage 0 is near the 0.3 that escape implies."""
    sim = simulate_cohort(n=4000, random_state=0, scenario="lupus", ecg=False)
    cohort = sim.cohort
    _, action, y, names = cohort_inputs(cohort, "efficacy")
    X = prepared_feature_table(cohort, 0, named_variants=True).to_numpy()
    psi = AIPW(n_folds=3, random_state=0).pseudo_outcomes(X, action, y, action_names=names, reference=cohort.reference)[0]
    dosage = cohort.genomics.set_index("patient_id")[ai.TLR7.variant_id].reindex(cohort.patient_ids)
    sex = cohort.clinical.set_index("patient_id")["sex"].reindex(cohort.patient_ids)
    cells = np.where(dosage.isna(), "none", sex + ":" + dosage.fillna(0).astype(int).astype(str))
    gates = group_effects(psi[:, 1:], pd.DataFrame({"cell": cells}), drugs=list(names[1:]), random_state=0)
    prof = ai.profile("lupus")
    truth = ai.true_subgroup_effects(prof, ai.drug_specs(prof, 4), 2.0)
    truth = truth.set_index(truth["sex"] + ":" + truth["tlr7_dosage"].astype(str))
    typed = gates[gates["subgroup"] != "none"]
    assert len(typed) == 15
    for row in typed.itertuples():
        true = truth[truth["drug"] == row.drug].loc[row.subgroup, "efficacy"]
        assert row.joint_lower <= true <= row.joint_upper, (row.subgroup, row.drug, row.gate, true)
    hcq = typed[typed["drug"] == "hydroxychloroquine"].set_index("subgroup")
    diff = hcq.loc["F:0", "gate"] - hcq.loc["M:0", "gate"]
    assert abs(diff - 0.3) < 2.5 * np.hypot(hcq.loc["F:0", "se"], hcq.loc["M:0", "se"])
