"""Every starter rule on hand-made patients, user rule files, and malformed-file errors."""

import numpy as np
import pandas as pd
import pytest

from causalrx.exceptions import ValidationError
from causalrx.safety import RuleSet

DRUGS = ("standard_care", "clopidogrel", "simvastatin", "metformin", "sotalol", "warfarin", "allopurinol", "carbamazepine",
         "abacavir", "codeine", "tramadol", "hydroxychloroquine", "amoxicillin", "azathioprine", "mercaptopurine",
         "fluorouracil", "capecitabine", "rasburicase", "co_trimoxazole")  # fmt: skip

HEALTHY = dict(
    patient_id="p", age=50.0, sex="M", weight_kg=80.0, egfr=90.0, qtc_ms=410.0, pregnant=False, allergy_penicillin=False,
    allergy_sulfonamide=False, on_nsaid=False, on_clarithromycin=False, on_omeprazole=False, CYP2C19="normal",
    CYP2D6="normal", CYP2C9="normal", VKORC1="GG", SLCO1B1="normal function", TPMT="normal", NUDT15="normal",
    DPYD="normal", G6PD="normal", **{"HLA-B*57:01": "negative", "HLA-B*58:01": "negative", "HLA-B*15:02": "negative"},
)  # fmt: skip

# rule id -> (fields that make it hold, fields that keep it from holding, drugs it concerns, words of the reason)
CASES = {
    "cpic-cyp2c19-clopidogrel-pm": ({"CYP2C19": "poor"}, {"CYP2C19": "rapid"}, ["clopidogrel"], "poor metaboliser"),
    "cpic-cyp2c19-clopidogrel-im": ({"CYP2C19": "intermediate"}, {"CYP2C19": "normal"}, ["clopidogrel"], "intermediate"),
    "cpic-hlab5701-abacavir": ({"HLA-B*57:01": "positive"}, {}, ["abacavir"], "hypersensitivity"),
    "cpic-hlab5801-allopurinol": ({"HLA-B*58:01": "positive"}, {}, ["allopurinol"], "SCAR"),
    "cpic-hlab1502-carbamazepine": ({"HLA-B*15:02": "positive"}, {}, ["carbamazepine"], "SJS/TEN"),
    "cpic-slco1b1-simvastatin-poor": ({"SLCO1B1": "poor function"}, {"SLCO1B1": "decreased function"}, ["simvastatin"], "myopathy"),
    "cpic-slco1b1-simvastatin-decreased": ({"SLCO1B1": "decreased function"}, {}, ["simvastatin"], "myopathy"),
    "cpic-tpmt-nudt15-thiopurines-poor": ({"NUDT15": "poor"}, {"TPMT": "intermediate"}, ["azathioprine", "mercaptopurine"], "myelosuppression"),
    "cpic-tpmt-nudt15-thiopurines-intermediate": ({"TPMT": "intermediate"}, {}, ["azathioprine", "mercaptopurine"], "myelosuppression"),
    "cpic-dpyd-fluoropyrimidines-poor": ({"DPYD": "poor"}, {"DPYD": "intermediate"}, ["fluorouracil", "capecitabine"], "toxicity"),
    "cpic-dpyd-fluoropyrimidines-intermediate": ({"DPYD": "intermediate"}, {}, ["fluorouracil", "capecitabine"], "toxicity"),
    "cpic-cyp2d6-codeine": ({"CYP2D6": "ultrarapid"}, {"CYP2D6": "intermediate"}, ["codeine", "tramadol"], "ultrarapid"),
    "cpic-cyp2c9-vkorc1-warfarin": ({"CYP2C9": "intermediate", "VKORC1": "GA"}, {"CYP2C9": "intermediate", "VKORC1": "GG"}, ["warfarin"], "sensitivity"),
    "cpic-g6pd-rasburicase-deficient": ({"G6PD": "deficient"}, {"G6PD": "variable"}, ["rasburicase"], "haemolytic"),
    "cpic-g6pd-rasburicase-variable": ({"G6PD": "variable"}, {}, ["rasburicase"], "enzyme activity"),
    "renal-metformin-egfr30": ({"egfr": 29.9}, {"egfr": 30.0}, ["metformin"], "lactic acidosis"),
    "renal-metformin-egfr45": ({"egfr": 40.0}, {"egfr": 29.0}, ["metformin"], "not recommended"),
    "renal-sotalol-egfr40": ({"egfr": 39.0}, {"egfr": 40.0}, ["sotalol"], "accumulates"),
    "renal-allopurinol-egfr30": ({"egfr": 20.0}, {}, ["allopurinol"], "renal impairment"),
    "renal-cotrimoxazole-egfr30": ({"egfr": 20.0}, {}, ["co_trimoxazole"], "accumulates"),
    "qt-prolonged-qtc": ({"sex": "F", "qtc_ms": 471.0}, {"sex": "F", "qtc_ms": 460.0}, ["sotalol", "hydroxychloroquine"], "torsades"),
    "allergy-penicillin": ({"allergy_penicillin": True}, {}, ["amoxicillin"], "penicillin allergy"),
    "allergy-sulfonamide": ({"allergy_sulfonamide": True}, {}, ["co_trimoxazole"], "sulfonamide"),
    "pregnancy-warfarin": ({"sex": "F", "pregnant": True}, {"sex": "F"}, ["warfarin"], "embryopathy"),
    "age-codeine-child": ({"age": 10.0}, {"age": 12.0}, ["codeine", "tramadol"], "respiratory depression"),
    "ddi-simvastatin-clarithromycin": ({"on_clarithromycin": True}, {}, ["simvastatin"], "CYP3A4"),
    "ddi-warfarin-nsaid": ({"on_nsaid": True}, {}, ["warfarin"], "bleeding"),
    "ddi-clopidogrel-omeprazole": ({"on_omeprazole": True}, {}, ["clopidogrel"], "omeprazole"),
}


@pytest.fixture(scope="module")
def rules():
    return RuleSet.default()


def test_starter_set_is_complete(rules):
    assert {r.id for r in rules.rules} == set(CASES)
    assert len(rules.rules) >= 15
    assert all(r.source for r in rules.rules)
    assert all(r.source.startswith("CPIC") for r in rules.rules if r.id.startswith("cpic"))


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_each_rule_on_hand_made_patients(rules, rule_id):
    holds, fails, drugs, words = CASES[rule_id]
    table = pd.DataFrame([{**HEALTHY, **holds, "patient_id": "yes"}, {**HEALTHY, **fails, "patient_id": "no"}, {**HEALTHY, "patient_id": "healthy"}])
    mask = rules.evaluate(table, DRUGS)
    rule = next(r for r in rules.rules if r.id == rule_id)
    cols = [DRUGS.index(d) for d in drugs]
    if rule.action == "contraindicated":
        assert not mask.allowed[0, cols].any()
        assert not mask.flagged[0, cols].any()
    else:
        assert mask.allowed[0, cols].all() and mask.flagged[0, cols].all()
    for drug in drugs:
        reasons = mask.reasons(0, drug)
        mine = [r for r in reasons if r["rule_id"] == rule_id]
        assert len(mine) == 1 and words in mine[0]["reason"] and mine[0]["source"] == rule.source
        assert all(r["rule_id"] != rule_id for r in mask.reasons(1, drug))
    assert mask.allowed[2].all() and not mask.flagged[2].any()  # the healthy patient
    assert mask.allowed[:, 0].all()  # the reference arm is never masked


def test_missing_data_is_counted_not_passed(rules):
    table = pd.DataFrame([{**HEALTHY, "CYP2C19": None, "qtc_ms": np.nan}, {**HEALTHY, "sex": "F", "qtc_ms": 480.0}])
    mask = rules.evaluate(table, DRUGS)
    assert mask.not_evaluable["cpic-cyp2c19-clopidogrel-pm"] == 1
    assert mask.not_evaluable["qt-prolonged-qtc"] == 1
    assert mask.allowed[0, DRUGS.index("sotalol")] and not mask.allowed[1, DRUGS.index("sotalol")]
    assert "only_reference" in dir(mask)


def test_patient_with_only_the_reference_arm_is_reported():
    table = pd.DataFrame([{**HEALTHY, "egfr": 20.0}, HEALTHY])
    mask = RuleSet.default().evaluate(table, ("standard_care", "metformin", "sotalol"))
    assert mask.only_reference.tolist() == ["p"] and mask.allowed[0].tolist() == [True, False, False]


def test_long_table_and_summary(rules):
    table = pd.DataFrame([{**HEALTHY, "patient_id": "a", "CYP2D6": "ultrarapid", "on_nsaid": True}])
    mask = rules.evaluate(table, DRUGS)
    frame = mask.to_frame()
    assert set(zip(frame["drug"], frame["rule_id"])) == {("codeine", "cpic-cyp2d6-codeine"), ("tramadol", "cpic-cyp2d6-codeine"), ("warfarin", "ddi-warfarin-nsaid")}
    assert frame.loc[frame["rule_id"] == "ddi-warfarin-nsaid", "dose_note"].iloc[0].startswith("avoid the NSAID")
    summary = mask.rule_summary().set_index("rule_id")
    assert summary.loc["cpic-cyp2d6-codeine", "patients"] == 1


USER_FILE = """\
vocabulary:
  drugs: [lithium]
  fields:
    sodium_mmol_l: {type: number}
rules:
  - id: user-lithium-renal
    drugs: [lithium]
    when:
      any:
        - {field: egfr, lt: 30}
        - {field: sodium_mmol_l, lt: 130}
    action: contraindicated
    reason: lithium toxicity risk
    source: local formulary 2026
"""


def test_user_rule_file_round_trip(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(USER_FILE)
    rules = RuleSet.load(path)
    assert rules.rules[-1].id == "user-lithium-renal" and len(rules.rules) == len(CASES) + 1
    table = pd.DataFrame([{**HEALTHY, "sodium_mmol_l": 125.0}, {**HEALTHY, "sodium_mmol_l": 140.0}])
    mask = rules.evaluate(table, ("standard_care", "lithium"))
    assert mask.allowed[:, 1].tolist() == [False, True]
    written = rules.to_yaml(tmp_path / "all.yaml")
    (tmp_path / "vocab.yaml").write_text("vocabulary:\n  drugs: [lithium]\n  fields:\n    sodium_mmol_l: {type: number}\nrules: []\n")
    again = RuleSet.load(tmp_path / "vocab.yaml", written, include_defaults=False)
    assert [r.to_dict() for r in again.rules] == [r.to_dict() for r in rules.rules]


BAD = [
    ("rules:\n  - id: x\n    drugs: [abacavir]\n    when: {field: hla_b, eq: positive}\n    action: contraindicated\n    reason: r\n    source: s\n",
     r"bad.yaml:4: unknown field 'hla_b'"),
    ("rules:\n  - id: x\n    drugs: [aspirinx]\n    when: {field: egfr, lt: 30}\n    action: contraindicated\n    reason: r\n    source: s\n",
     r"bad.yaml:2: unknown drug 'aspirinx'"),
    ("rules:\n  - id: x\n    drugs: [metformin]\n    when: {field: egfr, lt: 30, gt: 10}\n    action: contraindicated\n    reason: r\n    source: s\n",
     r"bad.yaml:4: condition on 'egfr' needs exactly one operator"),
    ("rules:\n  - id: x\n    drugs: [metformin]\n    when: {field: egfr, eq: low}\n    action: contraindicated\n    reason: r\n    source: s\n",
     r"bad.yaml:4: number field 'egfr' takes lt/le/gt/ge"),
    ("rules:\n  - id: x\n    drugs: [metformin]\n    when: {field: CYP2C19, eq: slow}\n    action: contraindicated\n    reason: r\n    source: s\n",
     r"bad.yaml:4: value\(s\) \['slow'\] are not levels of 'CYP2C19'"),
    ("rules:\n  - id: x\n    drugs: [metformin]\n    when:\n      all: {field: egfr, lt: 30}\n    action: caution\n    reason: r\n    source: s\n",
     r"bad.yaml:5: 'all' takes a non-empty list"),
    ("rules:\n  - id: x\n    drugs: [metformin]\n    when: {egfr: 30}\n    action: caution\n    reason: r\n    source: s\n",
     r"bad.yaml:4: malformed condition"),
    ("rules:\n  - id: x\n    drugs: [metformin]\n    when: {field: egfr, lt: 30}\n    action: forbid\n    reason: r\n    source: s\n",
     r"bad.yaml:2: action must be one of"),
    ("rules:\n  - id: x\n    drugs: [metformin]\n    when: {field: egfr, lt: 30}\n    action: caution\n    reason: r\n",
     r"bad.yaml:2: rule 'x' is missing \['source'\]"),
    ("rules:\n  - id: x\n    drug: [metformin]\n    when: {field: egfr, lt: 30}\n    action: caution\n    reason: r\n    source: s\n",
     r"bad.yaml:2: unknown key\(s\) \['drug'\]"),
    ("rules:\n  - id: renal-metformin-egfr30\n    drugs: [metformin]\n    when: {field: egfr, lt: 30}\n    action: caution\n    reason: r\n    source: s\n",
     r"bad.yaml:2: rule id 'renal-metformin-egfr30' is already defined at .*clinical.yaml"),
    ("rules:\n  - id: x\n    drugs: [metformin\n", r"bad.yaml:4: not valid YAML"),
]


@pytest.mark.parametrize("text, message", BAD)
def test_malformed_files_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValidationError, match=message):
        RuleSet.load(path)
