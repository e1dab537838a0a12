"""FHIR R4 resources -> the record fields the bundle and the safety rules read.

Resources are validated with ``fhir.resources`` (its R4B models, which read R4 resources of
the types below). Supported: Patient, Observation, Condition, AllergyIntolerance,
MedicationStatement and MedicationRequest; any other resource type, or a resource whose
field cannot be read, is a :class:`FhirError` naming the resource and the field (HTTP 422).

What maps where (codes, else the text or display, case-insensitive):

- Patient: ``gender`` -> ``sex`` (female F, male M; other and unknown leave it missing),
  ``birthDate`` -> ``age`` in years on the day of the request.
- Observation by LOINC: eGFR (33914-3, 48642-3, 48643-1, 62238-1, 98979-8) -> ``egfr``;
  serum creatinine (2160-0, 14682-9, 38483-4; mg/dL, umol/L or mmol/L through
  :mod:`causalrx.prep.units`) -> ``egfr`` by CKD-EPI 2021 when no eGFR is given (needs age
  and sex); QTc (8636-3, ECG-derived) -> ``qtc_ms``; body weight (29463-7, 3141-9; kg, lb, g)
  -> ``weight_kg``; pregnancy status (82810-3, positive / negative) -> ``pregnant``.
  A genomic result is an Observation whose code (or text) is a pharmacogene or HLA allele of
  the safety vocabulary (e.g. ``HLA-B*57:01``, ``CYP2C19``) with the result as
  ``valueCodeableConcept`` (text or display) or ``valueString``; values are read through the
  vocabulary's synonym table by the rules.
- Condition (active or without a status) by SNOMED CT: diabetes (44054006, 73211009),
  heart failure (84114007), hypertension (38341003), atrial fibrillation (49436004),
  pregnancy (77386006).
- AllergyIntolerance: penicillin (text or display containing "penicillin"; RxNorm 7980) ->
  ``allergy_penicillin``; sulfonamide ("sulfonamide", "sulfa") -> ``allergy_sulfonamide``.
- MedicationStatement / MedicationRequest (active): NSAIDs -> ``on_nsaid``;
  clarithromycin -> ``on_clarithromycin``; omeprazole -> ``on_omeprazole``.

Missing stays missing: a boolean field is set False only when the request says its list was
reviewed (a CDS Hooks prefetch key for Conditions, AllergyIntolerances or
MedicationStatements is present, even empty), otherwise it is unknown and the safety layer
fails closed on every rule that needs it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from causalrx.exceptions import ValidationError

LOINC_EGFR = {"33914-3", "48642-3", "48643-1", "62238-1", "98979-8"}
LOINC_CREATININE = {"2160-0", "14682-9", "38483-4"}
LOINC_QTC = {"8636-3"}
LOINC_WEIGHT = {"29463-7", "3141-9"}
LOINC_PREGNANCY = {"82810-3"}
CONDITIONS = {"44054006": "diabetes", "73211009": "diabetes", "84114007": "heart_failure", "38341003": "hypertension",
              "49436004": "atrial_fibrillation", "77386006": "pregnant"}  # fmt: skip
CONDITION_WORDS = {"diabetes": "diabetes", "heart failure": "heart_failure", "hypertension": "hypertension",
                   "atrial fibrillation": "atrial_fibrillation", "pregnan": "pregnant"}  # fmt: skip
ALLERGY_WORDS = {"penicillin": "allergy_penicillin", "amoxicillin": "allergy_penicillin", "sulfonamide": "allergy_sulfonamide",
                 "sulfa": "allergy_sulfonamide", "sulpha": "allergy_sulfonamide"}  # fmt: skip
NSAIDS = ("ibuprofen", "naproxen", "diclofenac", "ketoprofen", "indometacin", "indomethacin", "meloxicam", "celecoxib", "etoricoxib",
          "piroxicam", "aspirin", "acetylsalicylic")  # fmt: skip
MEDICATION_WORDS = {**{n: "on_nsaid" for n in NSAIDS}, "clarithromycin": "on_clarithromycin", "omeprazole": "on_omeprazole"}
SUPPORTED = ("Patient", "Observation", "Condition", "AllergyIntolerance", "MedicationStatement", "MedicationRequest")
LISTED = {"Condition": ("diabetes", "heart_failure", "hypertension", "atrial_fibrillation", "pregnant"),
          "AllergyIntolerance": ("allergy_penicillin", "allergy_sulfonamide"),
          "MedicationStatement": ("on_nsaid", "on_clarithromycin", "on_omeprazole")}  # fmt: skip


class FhirError(ValidationError):
    """A resource that cannot be read: ``resource`` and ``field`` say which."""

    def __init__(self, resource: str, field: str, problem: str):
        super().__init__(f"{resource}.{field}: {problem}")
        self.resource, self.field = resource, field


def _model(resource_type: str):
    import importlib

    if resource_type not in SUPPORTED:
        raise FhirError(resource_type, "resourceType", f"unsupported resource type; expected one of {list(SUPPORTED)}")
    module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    return getattr(module, resource_type)


def parse_resource(obj) -> object:
    """Validate one resource (a dict) with fhir.resources; errors name the resource and field."""
    from pydantic import ValidationError as PydanticError

    if not isinstance(obj, dict) or not isinstance(obj.get("resourceType"), str):
        raise FhirError("resource", "resourceType", "expected a JSON object with a resourceType")
    kind = obj["resourceType"]
    try:
        return _model(kind).model_validate(obj)
    except PydanticError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "__root__") or "resource"
        raise FhirError(kind, where, first.get("msg", "invalid")) from None


def bundle_resources(bundle) -> list:
    """The resources of a FHIR Bundle (dict), each validated."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise FhirError("Bundle", "resourceType", "expected a FHIR Bundle")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise FhirError("Bundle", "entry", "expected a list")
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "resource" not in entry:
            raise FhirError("Bundle", f"entry[{i}].resource", "missing")
        out.append(parse_resource(entry["resource"]))
    return out


def _codes(concept) -> tuple[set[str], str]:
    if concept is None:
        return set(), ""
    codes = {c.code for c in (concept.coding or []) if c.code}
    words = " ".join([concept.text or ""] + [c.display or "" for c in (concept.coding or [])] + sorted(codes)).lower()
    return codes, words


def _quantity(obs, what: str) -> tuple[float, str]:
    q = obs.valueQuantity
    if q is None or q.value is None:
        raise FhirError("Observation", "valueQuantity", f"{what}: expected a valueQuantity with a value")
    return float(q.value), (q.unit or q.code or "")


def ckd_epi_2021(creatinine_mg_dl: float, age: float, female: bool) -> float:
    """eGFR (mL/min/1.73 m2) by the race-free CKD-EPI 2021 creatinine equation (Inker et al., NEJM 2021)."""
    kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)
    r = creatinine_mg_dl / kappa
    return float(142 * min(r, 1) ** alpha * max(r, 1) ** -1.200 * 0.9938**age * (1.012 if female else 1.0))


def record_fields(resources, *, patient_id: str | None = None, reviewed=(), today: dt.date | None = None, vocabulary=None) -> dict:
    """One patient's record fields from validated resources.

    ``reviewed`` names the resource lists known to be complete (e.g. ``("Condition",)``): their
    boolean fields default to False instead of unknown. ``vocabulary`` (default: the shipped
    one) names the pharmacogene and HLA fields a genomic Observation may carry; the service
    passes its rule set's, so it is not read again for every request.
    """
    import pandas as pd

    from causalrx.prep.units import convert
    from causalrx.safety.vocabulary import default_vocabulary

    today = today or dt.date.today()
    vocab = (vocabulary or default_vocabulary()).fields
    genomic = {name for name, spec in vocab.items() if spec["type"] == "category" and name not in ("sex",)}
    fields: dict = {}
    for kind in reviewed:
        for name in LISTED.get(kind, ()):
            fields[name] = False
    creatinine = None
    for res in resources:
        kind = res.get_resource_type()
        if kind == "Patient":
            fields["patient_id"] = res.id or patient_id
            if res.gender in ("female", "male"):
                fields["sex"] = "F" if res.gender == "female" else "M"
            if res.birthDate is not None:
                born = res.birthDate if isinstance(res.birthDate, dt.date) else dt.date.fromisoformat(str(res.birthDate)[:10])
                fields["age"] = (today - born).days / 365.25
        elif kind == "Observation":
            codes, words = _codes(res.code)
            if not codes and not words:
                raise FhirError("Observation", "code", "expected a coding or a text")
            lower = {c.lower() for c in codes} | {(res.code.text or "").strip().lower()}
            match = next((g for g in sorted(genomic) if g.lower() in lower), None)
            if codes & LOINC_EGFR:
                fields["egfr"] = _quantity(res, "eGFR")[0]
            elif codes & LOINC_CREATININE:
                value, unit = _quantity(res, "creatinine")
                converted, _ = convert(pd.Series([value]), "creatinine", pd.Series([unit]) if unit else None,
                                       where="Observation.valueQuantity")  # fmt: skip
                creatinine = float(converted.iloc[0])
            elif codes & LOINC_QTC:
                fields["qtc_ms"] = _quantity(res, "QTc")[0]
            elif codes & LOINC_WEIGHT:
                value, unit = _quantity(res, "body weight")
                fields["weight_kg"] = float(convert(pd.Series([value]), "weight", pd.Series([unit]) if unit else None,
                                                    where="Observation.valueQuantity")[0].iloc[0])  # fmt: skip
            elif codes & LOINC_PREGNANCY:
                _, value = _codes(res.valueCodeableConcept)
                if not value:
                    raise FhirError("Observation", "valueCodeableConcept", "pregnancy status: expected positive or negative")
                if "negative" in value or "not pregnant" in value:
                    fields["pregnant"] = False
                elif "positive" in value or "pregnant" in value:
                    fields["pregnant"] = True
                else:
                    raise FhirError("Observation", "valueCodeableConcept", f"pregnancy status: expected positive or negative, got {value!r}")
            elif match is not None:
                text = res.valueString or (_value_text(res.valueCodeableConcept))
                if not text:
                    raise FhirError("Observation", "valueCodeableConcept", f"{match}: expected the result as a text or a coding")
                fields[match] = text
        elif kind == "Condition":
            if _inactive(res.clinicalStatus):
                continue
            codes, words = _codes(res.code)
            for code in codes & set(CONDITIONS):
                fields[CONDITIONS[code]] = True
            for word, name in CONDITION_WORDS.items():
                if word in words:
                    fields[name] = True
        elif kind == "AllergyIntolerance":
            if _inactive(res.clinicalStatus):
                continue
            codes, words = _codes(res.code)
            if "7980" in codes:
                fields["allergy_penicillin"] = True
            for word, name in ALLERGY_WORDS.items():
                if word in words:
                    fields[name] = True
        elif kind in ("MedicationStatement", "MedicationRequest"):
            if getattr(res, "status", None) in ("stopped", "completed", "entered-in-error", "cancelled"):
                continue
            _, words = _codes(getattr(res, "medicationCodeableConcept", None))
            for word, name in MEDICATION_WORDS.items():
                if word in words:
                    fields[name] = True
    if "egfr" not in fields and creatinine is not None and "age" in fields and "sex" in fields:
        fields["egfr"] = ckd_epi_2021(creatinine, fields["age"], fields["sex"] == "F")
    fields.setdefault("patient_id", patient_id)
    if not fields["patient_id"]:
        raise FhirError("Patient", "id", "no Patient resource with an id, and no patientId in the context")
    return fields


def _value_text(concept) -> str:
    if concept is None:
        return ""
    return concept.text or next((c.display or c.code for c in (concept.coding or []) if c.display or c.code), "")


def _inactive(status) -> bool:
    codes, _ = _codes(status)
    return bool(codes & {"inactive", "resolved", "remission"})


def drafted_drugs(draft_orders, drugs) -> list[str]:
    """The bundle's drugs named by the MedicationRequests of a CDS Hooks ``draftOrders`` Bundle."""
    names = {d.lower().replace("_", " "): d for d in drugs}
    out = []
    for res in bundle_resources(draft_orders):
        if res.get_resource_type() != "MedicationRequest":
            raise FhirError(res.get_resource_type(), "resourceType", "draftOrders: expected MedicationRequest resources")
        _, words = _codes(res.medicationCodeableConcept)
        if not words:
            raise FhirError("MedicationRequest", "medicationCodeableConcept", "expected the drug as a coding or a text")
        out += [d for key, d in names.items() if key in words and d not in out]
    return out


def fields_frame(fields: dict):
    """A one-row DataFrame of record fields (unknown fields absent: missing)."""
    import pandas as pd

    return pd.DataFrame([{k: (np.nan if v is None else v) for k, v in fields.items()}])
