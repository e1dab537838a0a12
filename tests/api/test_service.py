"""The service: CDS Hooks round trips, fail-closed safety, auth, malformed FHIR, the audit log, a live server."""

import csv
import json
import shutil
import socket
import threading
import time

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from causalrx.api import load_bundle  # noqa: E402
from causalrx.api.audit import AuditLog  # noqa: E402
from causalrx.api.fhir import ckd_epi_2021  # noqa: E402
from causalrx.api.server import add_token, create_app  # noqa: E402
from causalrx.disclaimer import DISCLAIMER  # noqa: E402
from causalrx.exceptions import ValidationError  # noqa: E402


def patient(pid="pt-1", gender="male", born="1960-02-01"):
    return {"resourceType": "Patient", "id": pid, "gender": gender, "birthDate": born}


def genomic(field, value):
    return {"resourceType": "Observation", "status": "final", "code": {"text": field}, "valueCodeableConcept": {"text": value}}


def quantity(loinc, value, unit):
    return {"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
            "valueQuantity": {"value": value, "unit": unit}}


def search(*resources):
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def draft(drug):
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {
        "resourceType": "MedicationRequest", "status": "draft", "intent": "order", "subject": {"reference": "Patient/pt-1"},
        "medicationCodeableConcept": {"text": drug}}}]}  # fmt: skip


def hook(observations, drafted="abacavir 600 mg tablet"):
    return {"hook": "order-select", "hookInstance": "d1f1", "context": {"patientId": "pt-1", "draftOrders": draft(drafted)},
            "prefetch": {"patient": patient(), "observations": search(*observations), "conditions": search(), "allergies": search(),
                         "medications": search()}}  # fmt: skip


@pytest.fixture()
def service(bundle_dir, tmp_path):
    tokens = tmp_path / "tokens.json"
    keys = {"ehr": add_token(tokens, "ehr", ["recommend"]), "auditor": add_token(tokens, "auditor", ["audit:read"]),
            "root": add_token(tokens, "root", ["admin"])}  # fmt: skip
    audit = AuditLog(f"sqlite:///{tmp_path / 'audit.sqlite'}")
    app = create_app(bundle_dir, tokens=tokens, audit=audit, max_body_bytes=200_000, rate_per_minute=1000)
    return TestClient(app), {k: {"Authorization": f"Bearer {v}"} for k, v in keys.items()}, audit, tokens


EGFR = quantity("62238-1", 80, "mL/min/{1.73_m2}")


def test_hla_b5701_positive_and_abacavir_drafted_gives_a_critical_card(service):
    client, auth, _, _ = service
    r = client.post("/cds-services/causalrx-order-select", json=hook([genomic("HLA-B*57:01", "positive"), EGFR]), headers=auth["ehr"])
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    critical = [c for c in cards if c["indicator"] == "critical"]
    assert len(critical) == 1 and critical[0]["summary"] == "abacavir is contraindicated for this patient"
    assert "cpic-hlab5701-abacavir" in critical[0]["detail"] and "CPIC" in critical[0]["detail"]
    alternative = critical[0]["suggestions"][0]["actions"][0]["resource"]["medicationCodeableConcept"]["text"]
    assert alternative != "abacavir" and critical[0]["selectionBehavior"] == "at-most-one"
    info = [c for c in cards if c["indicator"] == "info"]
    assert len(info) == 1 and "abacavir" not in info[0]["summary"]
    assert all(DISCLAIMER in c["detail"] for c in cards) and all(len(c["summary"]) <= 140 for c in cards)


def test_negative_hla_lets_abacavir_through_and_a_missing_result_fails_closed(service):
    client, auth, _, _ = service
    ok = client.post("/cds-services/causalrx-order-sign", json={**hook([genomic("HLA-B*57:01", "negative"), EGFR]), "hook": "order-sign"},
                     headers=auth["ehr"])  # fmt: skip
    assert ok.status_code == 200 and not [c for c in ok.json()["cards"] if c["indicator"] == "critical"]
    missing = client.post("/cds-services/causalrx-order-select", json=hook([EGFR]), headers=auth["ehr"])
    critical = [c for c in missing.json()["cards"] if c["indicator"] == "critical"]
    assert len(critical) == 1 and "not evaluable" in critical[0]["detail"] and "HLA-B*57:01" in critical[0]["detail"]


def test_recommendations_endpoint_tiers_every_drug_and_never_recommends_a_masked_one(service, bundle_dir):
    client, auth, _, _ = service
    bundle = search(patient(), genomic("HLA-B*57:01", "positive"), EGFR, quantity("8636-3", 500, "ms"))
    r = client.post("/v1/recommendations", json=bundle, headers=auth["ehr"])
    assert r.status_code == 200, r.text
    body = r.json()
    rows = {row["drug"]: row for row in body["recommendations"]}
    assert set(rows) == set(load_bundle(bundle_dir).drugs) and body["disclaimer"] == DISCLAIMER
    assert rows["abacavir"]["tier"] == "contraindicated" and rows["sotalol"]["tier"] == "contraindicated"  # HLA; QTc 500 ms
    assert sum(row["tier"] == "recommended" for row in rows.values()) == 1
    assert all(row["reason"] for row in rows.values() if row["tier"] == "contraindicated")
    assert client.get("/v1/rules", headers=auth["ehr"]).json()["rules"][0]["id"]


def test_auth_401_and_403(service):
    client, auth, _, _ = service
    body = hook([EGFR])
    assert client.post("/cds-services/causalrx-order-select", json=body).status_code == 401
    assert client.post("/cds-services/causalrx-order-select", json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/v1/audit", headers=auth["ehr"]).status_code == 403
    assert client.post("/v1/recommendations", json=search(patient()), headers=auth["auditor"]).status_code == 403
    assert client.get("/v1/audit", headers=auth["auditor"]).status_code == 200
    assert client.get("/v1/audit", headers=auth["root"]).status_code == 200  # admin implies every scope
    assert client.get("/health").status_code == 200 and len(client.get("/cds-services").json()["services"]) == 2


@pytest.mark.parametrize("bad, resource, field", [
    (search(patient(), {"resourceType": "Encounter", "id": "e1", "status": "finished"}), "Encounter", "resourceType"),
    (search(patient(), {"resourceType": "Observation", "status": "final", "code": {"text": "QTc"},
                        "valueQuantity": {"value": "long"}}), "Observation", "valueQuantity.value"),
    (search(patient(), quantity("8636-3", None, "ms")), "Observation", "valueQuantity"),
    (search({"resourceType": "Observation", "status": "final", "valueString": "x"}), "Observation", "code"),
    ({"resourceType": "Patient", "id": "p"}, "Bundle", "resourceType"),
])  # fmt: skip
def test_malformed_fhir_is_a_4xx_naming_the_resource_and_field(service, bad, resource, field):
    client, auth, _, _ = service
    r = client.post("/v1/recommendations", json=bad, headers=auth["ehr"])
    assert r.status_code == 422, r.text
    assert r.json()["resource"] == resource and r.json()["field"].startswith(field), r.json()


def test_every_request_is_audited_before_its_answer_and_exported(service, tmp_path):
    client, auth, audit, _ = service
    before = audit.count()
    client.post("/cds-services/causalrx-order-select", json=hook([genomic("HLA-B*57:01", "positive"), EGFR]), headers=auth["ehr"])
    client.post("/cds-services/causalrx-order-select", json=hook([EGFR]))  # 401, audited too
    client.post("/v1/recommendations", content=b"x" * 300_000, headers={**auth["ehr"], "Content-Type": "application/json"})  # 413
    rows = audit.rows(limit=3)
    assert audit.count() == before + 3 and [r["status"] for r in rows] == [413, 401, 200]
    ok = rows[2]
    assert ok["caller"] == "ehr" and ok["service"] == "POST /cds-services/causalrx-order-select" and len(ok["input_sha256"]) == 64
    assert "cpic-hlab5701-abacavir" in json.loads(ok["rule_ids"]) and len(json.loads(ok["recommended"])) == 1
    assert "pt-1" not in json.dumps(rows)  # no patient data in the log, only a hash of the body
    out = tmp_path / "audit.csv"
    assert audit.export_csv(out) == audit.count() and next(csv.DictReader(out.open()))["caller"]


def test_rate_limit_and_unauditable_answers(bundle_dir, tmp_path):
    tokens = tmp_path / "tokens.json"
    key = {"Authorization": f"Bearer {add_token(tokens, 'ehr', ['recommend'])}"}
    audit = AuditLog(f"sqlite:///{tmp_path / 'a.sqlite'}")
    client = TestClient(create_app(bundle_dir, tokens=tokens, audit=audit, rate_per_minute=2))
    codes = [client.get("/v1/rules", headers=key).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    audit.engine.dispose()
    (tmp_path / "a.sqlite").unlink()
    (tmp_path / "a.sqlite").mkdir()  # the audit database can no longer be opened: no answer without its row
    assert client.get("/health").status_code == 503


def test_bundle_refuses_changed_files_and_other_versions(bundle_dir, tmp_path):
    copy = tmp_path / "b"
    shutil.copytree(bundle_dir, copy)
    with open(copy / "rules.yaml", "a") as fh:
        fh.write("\n# edited\n")
    with pytest.raises(ValidationError, match=r"rules\.yaml: checksum differs from manifest\.json"):
        load_bundle(copy)
    shutil.rmtree(copy)
    shutil.copytree(bundle_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["versions"]["scikit-learn"] = "0.1"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValidationError, match=r"exported with scikit-learn 0\.1, this environment has scikit-learn"):
        load_bundle(copy)


def test_creatinine_in_umol_per_litre_becomes_egfr_by_ckd_epi_2021(service):
    from causalrx.api.fhir import bundle_resources, record_fields

    # 88.42 umol/L = 1.0 mg/dL; man aged 60: 142 * (1/0.9)^-1.2 * 0.9938^60 = 85.5 (Inker et al. 2021)
    assert ckd_epi_2021(1.0, 60, female=False) == pytest.approx(142 * (1 / 0.9) ** -1.2 * 0.9938**60)
    import datetime as dt

    fields = record_fields(bundle_resources(search(patient(born="1960-01-01"), quantity("14682-9", 88.42, "umol/L"))),
                           today=dt.date(2020, 1, 1))  # fmt: skip
    assert fields["egfr"] == pytest.approx(ckd_epi_2021(1.0, (dt.date(2020, 1, 1) - dt.date(1960, 1, 1)).days / 365.25, False))
    assert "pregnant" not in fields and "diabetes" not in fields  # not reviewed: unknown, not False


def test_the_bundle_holds_no_patient_rows(tmp_path):
    from causalrx.api import export_bundle
    from causalrx.data.simulate import simulate_cohort

    sim = simulate_cohort(n=300, n_drugs=4, random_state=1, ecg=False)
    clinical = sim.cohort.clinical
    sentinel_weight = 123.456789123
    clinical.loc[5, "weight_kg"] = sentinel_weight
    assert sim.cohort.clinical.loc[5, "weight_kg"] == sentinel_weight  # planted in the cohort that is exported
    ids = clinical["patient_id"].to_numpy().copy()
    folder = export_bundle(sim.cohort, tmp_path / "b", n_estimators=8, n_folds=2)
    blob = b"".join(p.read_bytes() for p in folder.iterdir() if p.is_file())
    import numpy as np

    assert np.float64(sentinel_weight).tobytes() not in blob and repr(sentinel_weight).encode() not in blob
    assert not any(str(i).encode() in blob for i in ids)  # no patient id either


def test_a_live_server_on_loopback(bundle_dir, tmp_path):
    import httpx
    import uvicorn

    tokens = tmp_path / "tokens.json"
    key = add_token(tokens, "ehr", ["recommend"])
    app = create_app(bundle_dir, tokens=tokens, audit=f"sqlite:///{tmp_path / 'live.sqlite'}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/health").json()["status"] == "ok"
        r = httpx.post(f"{base}/cds-services/causalrx-order-select", json=hook([genomic("HLA-B*57:01", "positive"), EGFR]),
                       headers={"Authorization": f"Bearer {key}"}, timeout=60)  # fmt: skip
        assert r.status_code == 200 and any(c["indicator"] == "critical" for c in r.json()["cards"])
        assert httpx.get(f"{base}/openapi.json").json()["paths"]["/v1/recommendations"]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_export_token_and_audit_commands(tmp_path):
    from typer.testing import CliRunner

    from causalrx.cli import app

    runner = CliRunner()
    out = tmp_path / "bundle"
    result = runner.invoke(app, ["export", "--out", str(out), "--n", "400", "--drugs", "4", "--trees", "8"])
    assert result.exit_code == 0, result.output
    assert load_bundle(out).drugs == ("standard_care", "clopidogrel", "simvastatin", "metformin")
    again = runner.invoke(app, ["export", "--out", str(tmp_path), "--n", "400", "--drugs", "4"])
    assert again.exit_code == 2 and "error:" in again.output  # a folder holding other files is refused
    tokens = tmp_path / "tokens.json"
    result = runner.invoke(app, ["token", "--tokens", str(tokens), "--name", "ehr", "--scope", "recommend"])
    token = result.output.strip().splitlines()[-1]
    assert result.exit_code == 0 and len(token) > 30 and token not in tokens.read_text()  # only its digest is stored
    bad = runner.invoke(app, ["token", "--tokens", str(tokens), "--name", "x", "--scope", "everything"])
    assert bad.exit_code == 2 and "scopes: expected some of" in bad.output
    client = TestClient(create_app(out, tokens=tokens))  # audit log in the bundle's state/ folder
    assert client.get("/v1/rules", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    result = runner.invoke(app, ["audit", "export", "--bundle", str(out), "--out", str(tmp_path / "audit.csv")])
    assert result.exit_code == 0, result.output
    assert [row["service"] for row in csv.DictReader((tmp_path / "audit.csv").open())] == ["GET /v1/rules"]


def test_a_card_never_proposes_ordering_the_reference_arm():
    from causalrx.api.server import _card

    card = _card("critical", "x is contraindicated", "d", suggestion="standard_care", reference=True)
    assert card["suggestions"][0]["label"] == "Consider standard care (no additional drug) instead"
    assert "actions" not in card["suggestions"][0]
    other = _card("critical", "x is contraindicated", "d", suggestion="warfarin")
    assert other["suggestions"][0]["actions"][0]["resource"]["medicationCodeableConcept"]["text"] == "warfarin"


def test_the_feature_schema_reads_fields_as_the_rules_do(bundle_dir):
    import pandas as pd

    model = load_bundle(bundle_dir)
    X = model.schema.transform(pd.DataFrame({"CYP2C19": ["Poor Metabolizer", None], "sex": ["female", "M"]}), model.rules.vocabulary)
    assert X["CYP2C19=poor"].tolist() == [1.0, 0.0] and X["missing.CYP2C19"].tolist() == [0.0, 1.0]  # a synonym is its level
    assert X["sex=F"].tolist() == [1.0, 0.0] and X["sex=M"].tolist() == [0.0, 1.0]
    with pytest.raises(ValidationError, match="CYP2C19: value"):
        model.schema.transform(pd.DataFrame({"CYP2C19": ["sluggish"]}), model.rules.vocabulary)
