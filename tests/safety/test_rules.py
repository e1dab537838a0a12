"""Every starter rule on hand-made patients, user rule files, and malformed-file errors."""

import numpy as np
import pandas as pd
import pytest

from causalrx.exceptions import ValidationError
from causalrx.safety import RuleSet

from causalrx.safety.vocabulary import default_vocabulary

DRUGS = tuple(default_vocabulary().drugs)  # every drug the rules know, the reference arm first

HEALTHY = dict(
    patient_id="p", age=50.0, sex="M", weight_kg=80.0, egfr=90.0, qtc_ms=410.0, pregnant=False, allergy_penicillin=False,
    allergy_sulfonamide=False, on_nsaid=False, on_clarithromycin=False, on_omeprazole=False, CYP2C19="normal",
    CYP2D6="normal", CYP2C9="normal", CYP2C9_activity=2.0, VKORC1="GG", SLCO1B1="normal function", TPMT="normal",
    NUDT15="normal", DPYD="normal", DPYD_activity=2.0, G6PD="normal", CYP3A5="poor", CYP2B6="normal", UGT1A1="normal",
    RYR1="uncertain susceptibility", CACNA1S="uncertain susceptibility", **{"MT-RNR1": "normal risk", "CYP4F2*3": "negative"},
    **{"HLA-B*57:01": "negative", "HLA-B*58:01": "negative", "HLA-B*15:02": "negative", "HLA-A*31:01": "negative"},
)  # fmt: skip
# fires on every genotyped patient (a dose note), so the healthy patient has it too
ALWAYS = {"cpic-warfarin-genotype-dosing"}
NSAIDS = ["celecoxib", "flurbiprofen", "ibuprofen", "lornoxicam"]
HYDANTOINS = ["phenytoin", "fosphenytoin"]
THIOPURINES = ["azathioprine", "mercaptopurine"]
FLUORO = ["fluorouracil", "capecitabine"]
OPIOIDS = ["codeine", "tramadol"]
TCAS = ["amitriptyline", "nortriptyline"]
PPIS = ["omeprazole", "lansoprazole", "pantoprazole", "dexlansoprazole"]
MH = ["desflurane", "enflurane", "halothane", "isoflurane", "methoxyflurane", "sevoflurane", "succinylcholine"]
AMINOGLYCOSIDES = ["amikacin", "gentamicin", "kanamycin", "plazomicin", "streptomycin", "tobramycin"]
IM1 = {"CYP2C9": "intermediate", "CYP2C9_activity": 1.0}
IM15 = {"CYP2C9": "intermediate", "CYP2C9_activity": 1.5}
PM9 = {"CYP2C9": "poor", "CYP2C9_activity": 0.5}

# rule id -> (fields that make it hold, fields that keep it from holding, drugs it concerns, words of the reason)
CASES = {
    "cpic-cyp2c19-clopidogrel-pm-acs-pci": ({"CYP2C19": "likely poor"}, {"CYP2C19": "rapid"}, ["clopidogrel"], "prasugrel or ticagrelor"),
    "cpic-cyp2c19-clopidogrel-im-acs-pci": ({"CYP2C19": "likely intermediate"}, {"CYP2C19": "normal"}, ["clopidogrel"], "standard-dose (75 mg)"),
    "cpic-cyp2c19-clopidogrel-pm-cardiovascular": ({"CYP2C19": "poor"}, {"CYP2C19": "intermediate"}, ["clopidogrel"], "avoid clopidogrel"),
    "cpic-cyp2c19-clopidogrel-pm-neurovascular": ({"CYP2C19": "poor"}, {"CYP2C19": "ultrarapid"}, ["clopidogrel"], "alternative P2Y12"),
    "cpic-cyp2c19-clopidogrel-im-neurovascular": ({"CYP2C19": "intermediate"}, {"CYP2C19": "normal"}, ["clopidogrel"], "intermediate"),
    "cpic-hlab5701-abacavir": ({"HLA-B*57:01": "positive"}, {}, ["abacavir"], "hypersensitivity"),
    "cpic-hlab5801-allopurinol": ({"HLA-B*58:01": "positive"}, {}, ["allopurinol"], "SCAR"),
    "cpic-hlab1502-carbamazepine": ({"HLA-B*15:02": "positive"}, {}, ["carbamazepine"], "SJS/TEN"),
    "cpic-hlaa3101-carbamazepine": ({"HLA-A*31:01": "positive"}, {}, ["carbamazepine"], "HLA-A*31:01 carrier"),
    "cpic-hlab1502-oxcarbazepine": ({"HLA-B*15:02": "positive"}, {}, ["oxcarbazepine"], "do not use oxcarbazepine"),
    "cpic-hlab1502-phenytoin": ({"HLA-B*15:02": "positive"}, {}, HYDANTOINS, "phenytoin-naive"),
    "cpic-cyp2c9-phenytoin-pm": (PM9, IM15, HYDANTOINS, "reduced phenytoin clearance"),
    "cpic-cyp2c9-phenytoin-im-as1": (IM1, IM15, HYDANTOINS, "activity score 1.0"),
    "cpic-cyp2c9-nsaids-im-as1": (IM1, IM15, NSAIDS, "activity score 1.0"),
    "cpic-cyp2c9-nsaids-pm": (PM9, IM1, NSAIDS, "poor metaboliser"),
    "cpic-cyp2c9-meloxicam-im-as1": (IM1, IM15, ["meloxicam"], "higher meloxicam exposure"),
    "cpic-cyp2c9-meloxicam-pm": (PM9, IM1, ["meloxicam"], "half-life"),
    "cpic-cyp2c9-oxicams": (IM1, IM15, ["piroxicam", "tenoxicam"], "piroxicam/tenoxicam"),
    "cpic-slco1b1-simvastatin-poor": ({"SLCO1B1": "poor function"}, {"SLCO1B1": "decreased function"}, ["simvastatin"], "alternative statin"),
    "cpic-slco1b1-simvastatin-decreased": ({"SLCO1B1": "possible decreased function"}, {"SLCO1B1": "increased function"}, ["simvastatin"], "myopathy"),
    "cpic-slco1b1-atorvastatin-decreased": ({"SLCO1B1": "decreased function"}, {"SLCO1B1": "normal function"}, ["atorvastatin"], "atorvastatin"),
    "cpic-slco1b1-atorvastatin-poor": ({"SLCO1B1": "poor function"}, {"SLCO1B1": "decreased function"}, ["atorvastatin"], "markedly higher"),
    "cpic-thiopurines-pm-nonmalignant": ({"TPMT": "poor"}, {"TPMT": "intermediate"}, THIOPURINES, "non-thiopurine"),
    "cpic-thiopurines-pm-malignancy": ({"NUDT15": "poor"}, {"NUDT15": "possible intermediate"}, THIOPURINES, "life-threatening"),
    "cpic-thiopurines-im": ({"TPMT": "possible intermediate"}, {"TPMT": "normal"}, THIOPURINES, "possible intermediate"),
    "cpic-dpyd-fluoropyrimidines-poor": ({"DPYD": "poor", "DPYD_activity": 0.5}, {"DPYD": "intermediate", "DPYD_activity": 1.0}, FLUORO, "avoid 5-fluorouracil"),
    "cpic-dpyd-fluoropyrimidines-as1": ({"DPYD": "intermediate", "DPYD_activity": 1.0}, {"DPYD": "intermediate", "DPYD_activity": 1.5}, FLUORO, "activity score 1.0"),
    "cpic-dpyd-fluoropyrimidines-as15": ({"DPYD": "intermediate", "DPYD_activity": 1.5}, {"DPYD": "intermediate", "DPYD_activity": 1.0}, FLUORO, "activity score 1.5"),
    "cpic-cyp2d6-opioids-um": ({"CYP2D6": "ultrarapid"}, {"CYP2D6": "normal"}, OPIOIDS, "toxic"),
    "cpic-cyp2d6-opioids-pm": ({"CYP2D6": "poor"}, {"CYP2D6": "intermediate"}, OPIOIDS, "no analgesia"),
    "cpic-cyp2d6-opioids-im": ({"CYP2D6": "intermediate"}, {"CYP2D6": "normal"}, OPIOIDS, "less active metabolite"),
    "cpic-cyp2d6-tricyclics-um": ({"CYP2D6": "ultrarapid"}, {"CYP2D6": "normal"}, TCAS, "lack of efficacy"),
    "cpic-cyp2d6-tricyclics-pm": ({"CYP2D6": "poor"}, {"CYP2D6": "intermediate"}, TCAS, "side effects"),
    "cpic-cyp2d6-tricyclics-im": ({"CYP2D6": "intermediate"}, {"CYP2D6": "normal"}, TCAS, "higher tricyclic levels"),
    "cpic-cyp2c19-amitriptyline-um-rm": ({"CYP2C19": "rapid"}, {"CYP2C19": "normal"}, ["amitriptyline"], "nortriptyline ratio"),
    "cpic-cyp2c19-amitriptyline-pm": ({"CYP2C19": "poor"}, {"CYP2C19": "intermediate"}, ["amitriptyline"], "higher amitriptyline"),
    "cpic-cyp2d6-tamoxifen-pm": ({"CYP2D6": "poor"}, {"CYP2D6": "normal"}, ["tamoxifen"], "aromatase inhibitor"),
    "cpic-cyp2d6-tamoxifen-im": ({"CYP2D6": "intermediate"}, {"CYP2D6": "normal"}, ["tamoxifen"], "endoxifen"),
    "cpic-cyp2d6-setrons-um": ({"CYP2D6": "ultrarapid"}, {"CYP2D6": "poor"}, ["ondansetron", "tropisetron"], "granisetron"),
    "cpic-cyp2c19-voriconazole-adult-um-pm": ({"CYP2C19": "ultrarapid"}, {"CYP2C19": "ultrarapid", "age": 10.0}, ["voriconazole"], "isavuconazole"),
    "cpic-cyp2c19-voriconazole-adult-rm": ({"CYP2C19": "rapid"}, {"CYP2C19": "intermediate"}, ["voriconazole"], "sub-therapeutic"),
    "cpic-cyp2c19-voriconazole-child-um-rm": ({"CYP2C19": "rapid", "age": 10.0}, {"CYP2C19": "rapid"}, ["voriconazole"], "child"),
    "cpic-cyp2c19-voriconazole-child-pm": ({"CYP2C19": "poor", "age": 10.0}, {"CYP2C19": "poor"}, ["voriconazole"], "child"),
    "cpic-cyp2c19-citalopram-um": ({"CYP2C19": "ultrarapid"}, {"CYP2C19": "rapid"}, ["citalopram", "escitalopram"], "lack of efficacy"),
    "cpic-cyp2c19-citalopram-pm": ({"CYP2C19": "likely poor"}, {"CYP2C19": "intermediate"}, ["citalopram", "escitalopram"], "QT"),
    "cpic-cyp2c19-sertraline-pm": ({"CYP2C19": "poor"}, {"CYP2C19": "ultrarapid"}, ["sertraline"], "sertraline"),
    "cpic-cyp2c19-ppi-um": ({"CYP2C19": "ultrarapid"}, {"CYP2C19": "normal"}, PPIS, "treatment failure"),
    "cpic-cyp2c19-ppi-rm": ({"CYP2C19": "rapid"}, {"CYP2C19": "normal"}, PPIS, "rapid metaboliser"),
    "cpic-cyp2c19-ppi-im": ({"CYP2C19": "likely intermediate"}, {"CYP2C19": "normal"}, PPIS, "intermediate metaboliser"),
    "cpic-cyp2c19-ppi-pm": ({"CYP2C19": "poor"}, {"CYP2C19": "normal"}, PPIS, "poor metaboliser"),
    "cpic-warfarin-genotype-dosing": ({}, {"CYP2C9": None, "VKORC1": None}, ["warfarin"], "VKORC1 -1639G>A"),
    "cpic-warfarin-cyp4f2": ({"CYP4F2*3": "positive"}, {}, ["warfarin"], "CYP4F2*3"),
    "cpic-g6pd-rasburicase-deficient": ({"G6PD": "deficient with CNSHA"}, {"G6PD": "variable"}, ["rasburicase"], "haemolytic"),
    "cpic-g6pd-rasburicase-variable": ({"G6PD": "variable"}, {}, ["rasburicase"], "enzyme activity"),
    "cpic-cyp3a5-tacrolimus": ({"CYP3A5": "intermediate"}, {"CYP3A5": "poor"}, ["tacrolimus"], "expresser"),
    "cpic-ryr1-cacna1s-malignant-hyperthermia": ({"CACNA1S": "malignant hyperthermia susceptible"}, {}, MH, "malignant hyperthermia"),
    "cpic-ugt1a1-atazanavir-pm": ({"UGT1A1": "poor"}, {"UGT1A1": "intermediate"}, ["atazanavir"], "jaundice"),
    "cpic-cyp2b6-efavirenz-im": ({"CYP2B6": "intermediate"}, {"CYP2B6": "rapid"}, ["efavirenz"], "CNS"),
    "cpic-cyp2b6-efavirenz-pm": ({"CYP2B6": "poor"}, {"CYP2B6": "intermediate"}, ["efavirenz"], "much higher"),
    "cpic-mtrnr1-aminoglycosides": ({"MT-RNR1": "increased risk"}, {"MT-RNR1": "uncertain risk"}, AMINOGLYCOSIDES, "hearing loss"),
    "renal-metformin-egfr30": ({"egfr": 29.9}, {"egfr": 30.0}, ["metformin"], "lactic acidosis"),
    "renal-metformin-egfr45": ({"egfr": 40.0}, {"egfr": 29.0}, ["metformin"], "not recommended"),
    "renal-sotalol-egfr40": ({"egfr": 39.0}, {"egfr": 40.0}, ["sotalol"], "accumulates"),
    "renal-allopurinol-egfr30": ({"egfr": 20.0}, {}, ["allopurinol"], "renal impairment"),
    "renal-cotrimoxazole-egfr30": ({"egfr": 20.0}, {}, ["co_trimoxazole"], "accumulates"),
    "qt-prolonged-qtc": ({"sex": "F", "qtc_ms": 471.0}, {"sex": "F", "qtc_ms": 460.0}, ["sotalol", "hydroxychloroquine", "dofetilide"], "torsades"),
    "allergy-penicillin": ({"allergy_penicillin": True}, {}, ["amoxicillin"], "penicillin allergy"),
    "allergy-sulfonamide": ({"allergy_sulfonamide": True}, {}, ["co_trimoxazole"], "sulfonamide"),
    "pregnancy-warfarin": ({"sex": "F", "pregnant": True}, {"sex": "F"}, ["warfarin"], "embryopathy"),
    "age-codeine-child": ({"age": 10.0}, {"age": 12.0}, OPIOIDS, "respiratory depression"),
    "ddi-simvastatin-clarithromycin": ({"on_clarithromycin": True}, {}, ["simvastatin"], "CYP3A4"),
    "ddi-warfarin-nsaid": ({"on_nsaid": True}, {}, ["warfarin"], "bleeding"),
    "ddi-clopidogrel-omeprazole": ({"on_omeprazole": True}, {}, ["clopidogrel"], "omeprazole"),
}


@pytest.fixture(scope="module")
def rules():
    return RuleSet.default()


def test_starter_set_is_complete(rules):
    assert {r.id for r in rules.rules} == set(CASES)
    assert all(r.source and r.guideline and r.strength in ("strong", "moderate", "optional", "regulatory") for r in rules.rules)
    assert all(r.guideline.startswith("CPIC") and r.strength != "regulatory" for r in rules.rules if r.id.startswith("cpic"))
    assert all(2010 <= r.year <= 2023 for r in rules.rules)


def _evaluate_case(rules, rule_id, patients):
    rule = next(r for r in rules.rules if r.id == rule_id)
    indications = {d: rule.indication[0] for d in rule.drugs} if rule.indication else None
    table = pd.DataFrame([{**HEALTHY, **p, "patient_id": pid} for pid, p in patients.items()])
    return rule, rules.evaluate(table, DRUGS, "standard_care", indications=indications)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_each_rule_on_hand_made_patients(rules, rule_id):
    holds, fails, drugs, words = CASES[rule_id]
    rule, mask = _evaluate_case(rules, rule_id, {"yes": holds, "no": fails, "healthy": {}})
    cols = [DRUGS.index(d) for d in drugs]
    assert sorted(rule.drugs) == sorted(drugs)
    if rule.action == "contraindicated":
        assert not mask.allowed[0, cols].any()
        assert not mask.flagged[0, cols].any()
    else:
        assert mask.allowed[0, cols].all() and mask.flagged[0, cols].all()
        assert rule.dose_note
    for drug in drugs:
        mine = [r for r in mask.reasons("yes", drug) if r["rule_id"] == rule_id]
        assert len(mine) == 1 and words in mine[0]["reason"] and mine[0]["source"] == rule.source
        assert mine[0]["status"] == "fired" and mine[0]["guideline"] == rule.guideline and mine[0]["strength"] == rule.strength
        assert all(r["rule_id"] != rule_id for r in mask.reasons("no", drug))
    healthy_rules = {r["rule_id"] for d in DRUGS for r in mask.reasons("healthy", d)}
    assert healthy_rules <= ALWAYS
    assert mask.allowed[2].all() and not mask.not_evaluable[2].any()
    assert mask.allowed[:, 0].all()  # the reference arm is never masked


def test_missing_data_masks_contraindicated_drugs_pending_data(rules):
    table = pd.DataFrame([{**HEALTHY, "patient_id": "a", "CYP2C19": None, "qtc_ms": np.nan},
                          {**HEALTHY, "patient_id": "b", "sex": "F", "qtc_ms": 480.0}])  # fmt: skip
    mask = rules.evaluate(table, DRUGS, "standard_care")
    assert mask.not_evaluable_by_rule["cpic-cyp2c19-clopidogrel-pm-acs-pci"] == 1
    assert mask.not_evaluable_by_rule["qt-prolonged-qtc"] == 1
    sotalol, clopidogrel = DRUGS.index("sotalol"), DRUGS.index("clopidogrel")
    assert not mask.allowed[0, sotalol] and mask.pending[0, sotalol] and not mask.contraindicated[0, sotalol]
    assert not mask.allowed[1, sotalol] and mask.contraindicated[1, sotalol] and not mask.pending[1, sotalol]
    assert not mask.allowed[0, clopidogrel] and mask.pending[0, clopidogrel]
    why = [r for r in mask.reasons("a", "sotalol") if r["status"] == "not evaluable"]
    assert why[0]["rule_id"] == "qt-prolonged-qtc" and why[0]["missing"] == "qtc_ms"
    frame = mask.to_frame()
    pending = frame[(frame["patient_id"] == "a") & (frame["status"] == "not evaluable")]
    assert set(pending["missing"]) == {"CYP2C19", "qtc_ms"}


def test_patient_with_only_the_reference_arm_is_reported():
    table = pd.DataFrame([{**HEALTHY, "egfr": 20.0}, {**HEALTHY, "patient_id": "q"}])
    mask = RuleSet.default().evaluate(table, ("standard_care", "metformin", "sotalol"), "standard_care")
    assert mask.only_reference.tolist() == ["p"] and mask.allowed[0].tolist() == [True, False, False]


def test_long_table_and_summary(rules):
    table = pd.DataFrame([{**HEALTHY, "patient_id": "a", "CYP2D6": "ultrarapid", "on_nsaid": True, "CYP2C9": None, "VKORC1": None}])
    mask = rules.evaluate(table, DRUGS, "standard_care")
    frame = mask.to_frame()
    codeine = {"cpic-cyp2d6-opioids-um"}
    expected = {("codeine", r) for r in codeine} | {("tramadol", r) for r in codeine} | {("warfarin", "ddi-warfarin-nsaid")}
    expected |= {(d, r) for r in ("cpic-cyp2d6-tricyclics-um",) for d in TCAS}
    expected |= {(d, "cpic-cyp2d6-setrons-um") for d in ("ondansetron", "tropisetron")}
    fired = frame[frame["status"] == "fired"]
    assert set(zip(fired["drug"], fired["rule_id"])) == expected
    undecided = frame[frame["status"] == "not evaluable"]  # CYP2C9 not recorded: its rules could not be decided
    assert set(undecided["missing"]) == {"CYP2C9"} and "cpic-cyp2c9-meloxicam-pm" in set(undecided["rule_id"])
    assert frame.loc[frame["rule_id"] == "ddi-warfarin-nsaid", "dose_note"].iloc[0].startswith("avoid the NSAID")
    summary = mask.rule_summary().set_index("rule_id")
    assert summary.loc["cpic-cyp2d6-opioids-um", "patients"] == 1 and summary.loc["cpic-cyp2d6-opioids-um", "strength"] == "strong"


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
    guideline: local formulary
    year: 2026
    strength: regulatory
    source: local formulary 2026
"""


def test_user_rule_file_round_trip(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(USER_FILE)
    rules = RuleSet.load(path)
    assert rules.rules[-1].id == "user-lithium-renal" and len(rules.rules) == len(CASES) + 1
    table = pd.DataFrame([{**HEALTHY, "sodium_mmol_l": 125.0}, {**HEALTHY, "sodium_mmol_l": 140.0}])
    mask = rules.evaluate(table, ("standard_care", "lithium"), "standard_care")
    assert mask.allowed[:, 1].tolist() == [False, True]
    written = rules.to_yaml(tmp_path / "all.yaml")
    (tmp_path / "vocab.yaml").write_text("vocabulary:\n  drugs: [lithium]\n  fields:\n    sodium_mmol_l: {type: number}\nrules: []\n")
    again = RuleSet.load(tmp_path / "vocab.yaml", written, include_defaults=False)
    assert [r.to_dict() for r in again.rules] == [r.to_dict() for r in rules.rules]


RULE = "    reason: r\n    guideline: g\n    year: 2020\n    strength: strong\n    source: s\n"
BAD = [
    ("rules:\n  - id: x\n    drugs: [abacavir]\n    when: {field: hla_b, eq: positive}\n    action: contraindicated\n    reason: r\n    guideline: g\n    year: 2020\n    strength: strong\n    source: s\n",
     r"bad.yaml:4: unknown field 'hla_b'"),
    ("rules:\n  - id: x\n    drugs: [aspirinx]\n    when: {field: egfr, lt: 30}\n    action: contraindicated\n    reason: r\n    guideline: g\n    year: 2020\n    strength: strong\n    source: s\n",
     r"bad.yaml:2: unknown drug 'aspirinx'"),
    ("rules:\n  - id: x\n    drugs: [metformin]\n    when: {field: egfr, lt: 30, gt: 10}\n    action: contraindicated\n    reason: r\n    guideline: g\n    year: 2020\n    strength: strong\n    source: s\n",
     r"bad.yaml:4: condition on 'egfr' needs exactly one operator"),
    ("rules:\n  - id: x\n    drugs: [metformin]\n    when: {field: egfr, eq: low}\n    action: contraindicated\n    reason: r\n    guideline: g\n    year: 2020\n    strength: strong\n    source: s\n",
     r"bad.yaml:4: number field 'egfr' takes lt/le/gt/ge"),
    ("rules:\n  - id: x\n    drugs: [metformin]\n    when: {field: CYP2C19, eq: slow}\n    action: contraindicated\n    reason: r\n    guideline: g\n    year: 2020\n    strength: strong\n    source: s\n",
     r"bad.yaml:4: value\(s\) \['slow'\] are not levels of 'CYP2C19'"),
    ("rules:\n  - id: x\n    drugs: [metformin]\n    when:\n      all: {field: egfr, lt: 30}\n    action: caution\n    reason: r\n    guideline: g\n    year: 2020\n    strength: strong\n    source: s\n",
     r"bad.yaml:5: 'all' takes a non-empty list"),
    ("rules:\n  - id: x\n    drugs: [metformin]\n    when: {egfr: 30}\n    action: caution\n    reason: r\n    guideline: g\n    year: 2020\n    strength: strong\n    source: s\n",
     r"bad.yaml:4: malformed condition"),
    ("rules:\n  - id: x\n    drugs: [metformin]\n    when: {field: egfr, lt: 30}\n    action: forbid\n    reason: r\n    guideline: g\n    year: 2020\n    strength: strong\n    source: s\n",
     r"bad.yaml:2: action must be one of"),
    ("rules:\n  - id: x\n    drugs: [metformin]\n    when: {field: egfr, lt: 30}\n    action: caution\n    reason: r\n",
     r"bad.yaml:2: rule 'x' is missing \['guideline', 'source', 'strength', 'year'\]"),
    ("rules:\n  - id: x\n    drug: [metformin]\n    when: {field: egfr, lt: 30}\n    action: caution\n    reason: r\n    guideline: g\n    year: 2020\n    strength: strong\n    source: s\n",
     r"bad.yaml:2: unknown key\(s\) \['drug'\]"),
    ("rules:\n  - id: renal-metformin-egfr30\n    drugs: [metformin]\n    when: {field: egfr, lt: 30}\n    action: caution\n    reason: r\n    guideline: g\n    year: 2020\n    strength: strong\n    source: s\n",
     r"bad.yaml:2: rule id 'renal-metformin-egfr30' is already defined at .*clinical.yaml"),
    ("rules:\n  - id: x\n    drugs: [metformin\n", r"bad.yaml:4: not valid YAML"),
    # what would silently change a rule: a repeated key, a NaN threshold, an unknown top-level key
    ("rules:\n  - id: x\n    drugs: [metformin]\n    when: {field: egfr, lt: 30}\n    action: contraindicated\n    action: caution\n" + RULE,
     r"bad.yaml:6: duplicate key 'action' \(first given on line 5\)"),
    ("rules:\n  - id: x\n    drugs: [metformin]\n    when: {field: egfr, lt: .nan}\n    action: contraindicated\n" + RULE,
     r"bad.yaml:4: number field 'egfr' takes lt/le/gt/ge with a finite number, got lt: nan"),
    ("rulez: []\nrules: []\n", r"bad.yaml:1: unknown top-level key\(s\) \['rulez'\]"),
]


@pytest.mark.parametrize("text, message", BAD)
def test_malformed_files_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValidationError, match=message):
        RuleSet.load(path)


CYP = "vocabulary:\n  fields:\n    CYP2C19: {type: category, values: [fast, slow]%s}\nrules: []\n"


def test_a_user_vocabulary_cannot_switch_a_default_rule_off(tmp_path):
    path = tmp_path / "vocab.yaml"
    path.write_text(CYP % "")
    with pytest.raises(ValidationError, match=r"vocab.yaml:3: field 'CYP2C19' would lose level\(s\) \['poor'"):
        RuleSet.load(path)
    path.write_text(CYP % ", override: true")  # explicit and logged, but the default clopidogrel rules would be dead
    with pytest.warns(UserWarning, match="redefined with override: true"):
        with pytest.raises(ValidationError, match=r"pharmacogenomics.yaml:\d+: rule 'cpic-cyp2c19-clopidogrel-pm-acs-pci' no longer fits"):
            RuleSet.load(path)
    with pytest.warns(UserWarning, match="redefined with override: true"):
        alone = RuleSet.load(path, include_defaults=False)
    assert alone.vocabulary.fields["CYP2C19"]["values"] == ["fast", "slow"] and not alone.rules
    path.write_text("vocabulary:\n  fields:\n    CYP2C19: {type: category, values: [poor, likely poor, intermediate, likely intermediate, "
                    "normal, rapid, ultrarapid, novel]}\nrules: []\n")  # fmt: skip
    assert "novel" in RuleSet.load(path).vocabulary.fields["CYP2C19"]["values"]  # adding a level is fine


