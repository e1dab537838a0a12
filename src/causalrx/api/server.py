"""The decision-support service (``pip install causalrx[serve]``; ``causalrx serve BUNDLE``).

FastAPI app with CDS Hooks (``GET /cds-services``, ``POST /cds-services/{id}`` for
``order-select`` and ``order-sign``), ``POST /v1/recommendations`` (a FHIR R4 Bundle ->
tiers for every drug), ``GET /v1/rules``, ``GET /v1/audit`` and ``GET /health``; OpenAPI at
``/openapi.json``. Bearer tokens are stored as SHA-256 digests with scopes (``recommend``,
``audit:read``, ``admin``, which implies both): 401 without a valid token, 403 without the
scope. Request bodies above ``max_body_bytes`` get 413 and callers above ``rate_per_minute``
get 429. Every request is written to the audit log before its response leaves; if the audit
row cannot be written the caller gets 503, never an unaudited answer. CORS is off (no
cross-origin headers). Logs carry no patient data: the audit log has a hash of the body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections import deque
from enum import Enum
from pathlib import Path
from typing import Literal

import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict

from causalrx.api.audit import AuditLog
from causalrx.api.bundle import ModelBundle, load_bundle
from causalrx.api.fhir import (
    FhirError,
    bundle_resources,
    drafted_drugs,
    fields_frame,
    parse_resource,
    record_fields,
)
from causalrx.disclaimer import DISCLAIMER
from causalrx.exceptions import ValidationError

SCOPES = ("recommend", "audit:read", "admin")
SERVICES = {"causalrx-order-select": "order-select", "causalrx-order-sign": "order-sign"}
PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "allergies": "AllergyIntolerance?patient={{context.patientId}}",
    "medications": "MedicationStatement?patient={{context.patientId}}",
}
REVIEWED = {"conditions": "Condition", "allergies": "AllergyIntolerance", "medications": "MedicationStatement"}


# ------------------------------------------------------------------ request bodies (their OpenAPI schema)
class ServiceId(str, Enum):
    order_select = "causalrx-order-select"
    order_sign = "causalrx-order-sign"


class BundleEntry(BaseModel):
    model_config = ConfigDict(extra="allow")
    resource: dict


class FhirBundle(BaseModel):
    """A FHIR R4 Bundle; each entry's resource is validated with fhir.resources."""

    model_config = ConfigDict(extra="allow")
    resourceType: Literal["Bundle"]
    type: str | None = None
    entry: list[BundleEntry] = []


class CdsContext(BaseModel):
    model_config = ConfigDict(extra="allow")
    patientId: str
    draftOrders: FhirBundle | None = None


class CdsRequest(BaseModel):
    """A CDS Hooks request: ``prefetch`` holds FHIR resources or Bundles by key (see discovery)."""

    model_config = ConfigDict(extra="allow")
    hook: Literal["order-select", "order-sign"]
    hookInstance: str
    context: CdsContext
    prefetch: dict[str, dict | None] = {}


# ------------------------------------------------------------------ tokens
def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_token(path: str | Path, name: str, scopes) -> str:
    """Create a token for ``name`` with ``scopes``, store its digest in the JSON file ``path``
    (created if absent), and return the token itself (shown once, never stored)."""
    scopes = list(scopes)
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValidationError(f"scopes: expected some of {list(SCOPES)}, got {scopes}")
    path = Path(path)
    data = json.loads(path.read_text()) if path.is_file() else {"tokens": []}
    if any(t["name"] == name for t in data["tokens"]):
        raise ValidationError(f"name: a token named {name!r} exists in {path}")
    token = secrets.token_urlsafe(32)
    data["tokens"].append({"name": name, "sha256": hash_token(token), "scopes": scopes})
    path.write_text(json.dumps(data, indent=2))
    path.chmod(0o600)
    return token


def load_tokens(path: str | Path) -> dict[str, dict]:
    data = json.loads(Path(path).read_text())
    out = {}
    for t in data.get("tokens", []):
        if not isinstance(t.get("sha256"), str) or len(t["sha256"]) != 64 or not set(t.get("scopes", [])) <= set(SCOPES):
            raise ValidationError(f"{path}: token {t.get('name')!r} needs a 64-character sha256 and scopes among {list(SCOPES)}")
        out[t["sha256"]] = {"name": t["name"], "scopes": set(t["scopes"])}
    return out


class RateLimiter:
    """At most ``per_minute`` requests per caller in any sliding minute."""

    def __init__(self, per_minute: int):
        self.per_minute, self.calls, self.lock = per_minute, {}, threading.Lock()

    def allow(self, caller: str) -> bool:
        now = time.monotonic()
        with self.lock:
            q = self.calls.setdefault(caller, deque())
            while q and now - q[0] > 60:
                q.popleft()
            if len(q) >= self.per_minute:
                return False
            q.append(now)
            return True


# ------------------------------------------------------------------ app
def create_app(bundle: ModelBundle | str | Path, *, tokens: dict | str | Path, audit: AuditLog | str | None = None,
               max_body_bytes: int = 1_000_000, rate_per_minute: int = 120):  # fmt: skip
    """The FastAPI app serving ``bundle`` (a loaded bundle or its folder).

    ``tokens``: digests -> {name, scopes} (:func:`load_tokens`) or the tokens file.
    ``audit``: an :class:`AuditLog`, a SQLAlchemy URL, or None for SQLite in the bundle's
    ``state/`` folder.
    """
    model = bundle if isinstance(bundle, ModelBundle) else load_bundle(bundle)
    known = tokens if isinstance(tokens, dict) else load_tokens(tokens)
    if audit is None:
        if model.path is None:
            raise ValidationError("audit: give an AuditLog or URL for a bundle loaded from memory")
        audit = AuditLog.in_folder(model.path / "state")
    elif isinstance(audit, str):
        audit = AuditLog(audit)
    limiter = RateLimiter(rate_per_minute)
    bearer = HTTPBearer(auto_error=False)
    app = FastAPI(title="causalrx decision support", version=model.manifest["versions"]["causalrx"],
                  description=f"{DISCLAIMER}\n\nBundle {model.version}; drugs: {', '.join(model.drugs)}.")  # fmt: skip
    app.state.audit, app.state.bundle = audit, model

    @app.middleware("http")
    async def audit_every_request(request: Request, call_next):
        start = time.perf_counter()
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_body_bytes):
            response = JSONResponse({"detail": f"request body above {max_body_bytes} bytes"}, status_code=413)
            body = b""
        else:
            body = await request.body()
            if len(body) > max_body_bytes:
                response = JSONResponse({"detail": f"request body above {max_body_bytes} bytes"}, status_code=413)
            else:
                request.state.caller, request.state.recommended, request.state.rule_ids = "anonymous", [], []
                response = await call_next(request)
        state = request.state
        try:
            audit.record(caller=getattr(state, "caller", "anonymous"), service=f"{request.method} {request.url.path}",
                         input_sha256=hashlib.sha256(body).hexdigest(), bundle_version=model.version, status=response.status_code,
                         recommended=getattr(state, "recommended", []), rule_ids=getattr(state, "rule_ids", []),
                         latency_ms=1000 * (time.perf_counter() - start))  # fmt: skip
        except Exception:  # noqa: BLE001 - whatever stops the audit row, an answer that cannot be audited is not given
            return JSONResponse({"detail": "the audit log could not be written; no answer is given"}, status_code=503)
        return response

    @app.exception_handler(ValidationError)
    async def invalid(_request, err: ValidationError):
        detail = {"detail": str(err)}
        if isinstance(err, FhirError):
            detail.update(resource=err.resource, field=err.field)
        return JSONResponse(detail, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, err: RequestValidationError):
        errors = [{"loc": [str(x) for x in e.get("loc", ())], "msg": e.get("msg", "")} for e in err.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid"}
        where = [x for x in first["loc"] if x not in ("body", "path", "query")]
        resource = "Bundle" if request.url.path == "/v1/recommendations" else "CDS Hooks request"
        return JSONResponse({"detail": errors, "resource": resource, "field": ".".join(where) or "body"}, status_code=422)

    def caller(scope: str):
        def check(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> dict:
            if credentials is None or credentials.scheme.lower() != "bearer":
                raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
            digest = hash_token(credentials.credentials)
            who = next((v for k, v in known.items() if hmac.compare_digest(k, digest)), None)
            if who is None:
                raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})
            request.state.caller = who["name"]
            if scope not in who["scopes"] and "admin" not in who["scopes"]:
                raise HTTPException(403, f"this token lacks the scope {scope!r}")
            if not limiter.allow(who["name"]):
                raise HTTPException(429, f"more than {rate_per_minute} requests in a minute")
            return who

        return check

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "bundle": model.version, "drugs": list(model.drugs), "reference": model.reference}

    @app.get("/cds-services")
    def discovery() -> dict:
        return {"services": [{"hook": hook, "id": sid, "title": f"causalrx drug recommendations ({hook})",
                              "description": "Flags drafted drugs a safety rule contraindicates, with the reason, source and an "
                                             "alternative, and shows the recommended drug with its confidence. " + DISCLAIMER,
                              "prefetch": PREFETCH} for sid, hook in SERVICES.items()]}  # fmt: skip

    @app.post("/cds-services/{service_id}")
    def cds_hook(service_id: ServiceId, body: CdsRequest, request: Request, _who: dict = Depends(caller("recommend"))) -> dict:
        service_id = service_id.value
        if body.hook != SERVICES[service_id]:
            raise ValidationError(f"hook: service {service_id!r} answers {SERVICES[service_id]!r}, got {body.hook!r}")
        payload = body.model_dump(mode="json", exclude_none=True)
        context, prefetch = payload["context"], payload.get("prefetch") or {}
        resources, reviewed = [], []
        for key, value in prefetch.items():
            if value is None:
                continue
            if isinstance(value, dict) and value.get("resourceType") == "Bundle":
                resources += bundle_resources(value)
            else:
                resources.append(parse_resource(value))
            if key in REVIEWED:
                reviewed.append(REVIEWED[key])
        fields = record_fields(resources, patient_id=context["patientId"], reviewed=reviewed, vocabulary=model.rules.vocabulary)
        drafted = drafted_drugs(context.get("draftOrders") or {"resourceType": "Bundle", "entry": []}, model.drugs)
        rec, _ = model.recommend(fields_frame(fields))
        table = rec.table
        cards = []
        best = table[table["tier"] == "recommended"].iloc[0]
        for drug in drafted:
            row = table[table["drug"] == drug].iloc[0]
            if row["tier"] == "contraindicated":
                cards.append(_card("critical", f"{drug} is contraindicated for this patient", f"Reason: {row['reason']}\n\n{DISCLAIMER}",
                                   suggestion=best["drug"], reference=best["drug"] == model.reference))  # fmt: skip
        cards.append(_card("info", f"Recommended: {best['drug']} (confidence {_pct(best['confidence'])})",
                           f"Estimated net benefit versus {model.reference}: {best['effect']:.2f} "
                           f"[{best['lower']:.2f}, {best['upper']:.2f}]. Drivers: {best['drivers'] or 'none'}.\n\n{DISCLAIMER}"))  # fmt: skip
        request.state.recommended = [best["drug"]]
        request.state.rule_ids = _rule_ids(table)
        return {"cards": cards}

    @app.post("/v1/recommendations")
    def recommendations(bundle: FhirBundle, request: Request, _who: dict = Depends(caller("recommend"))) -> dict:
        fields = record_fields(bundle_resources(bundle.model_dump(mode="json", exclude_none=True)), reviewed=[],
                               vocabulary=model.rules.vocabulary)  # fmt: skip
        rec, _ = model.recommend(fields_frame(fields))
        table = rec.table.drop(columns=["patient_id"])
        request.state.recommended = table.loc[table["tier"] == "recommended", "drug"].tolist()
        request.state.rule_ids = _rule_ids(rec.table)
        rows = json.loads(table.to_json(orient="records"))
        return {"patient_id": fields["patient_id"], "disclaimer": DISCLAIMER, "bundle": model.version,
                "recommendations": rows}  # fmt: skip

    @app.get("/v1/rules")
    def rules(_who: dict = Depends(caller("recommend"))) -> dict:
        return {"rules": [r.to_dict() for r in model.rules.rules]}

    @app.get("/v1/audit")
    def audit_rows(limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=2**31 - 1),
                   _who: dict = Depends(caller("audit:read"))) -> dict:  # fmt: skip
        return {"total": audit.count(), "rows": audit.rows(limit, offset)}

    return app


def _pct(p) -> str:
    return "n/a" if np.isnan(p) else f"{100 * p:.0f}%"


def _rule_ids(table) -> list[str]:
    ids = []
    for reason in table["reason"].dropna().astype(str):
        ids += [part.split(":", 1)[0].strip() for part in reason.split("; ") if ":" in part]
    return sorted(set(i for i in ids if i and " " not in i))


def _card(indicator: str, summary: str, detail: str, suggestion: str | None = None, reference: bool = False) -> dict:
    """A CDS Hooks card; ``suggestion`` proposes ordering that drug instead, or, when it is the reference arm
    (standard care, no new drug), says so without proposing an order."""
    card = {"uuid": str(uuid.uuid4()), "summary": summary[:140], "detail": detail, "indicator": indicator,
            "source": {"label": "causalrx decision support"}}  # fmt: skip
    if suggestion is not None and reference:
        card["suggestions"] = [{"label": f"Consider {suggestion.replace('_', ' ')} (no additional drug) instead", "uuid": str(uuid.uuid4())}]
    elif suggestion is not None:
        card["suggestions"] = [{"label": f"Consider {suggestion} instead", "uuid": str(uuid.uuid4()),
                                "actions": [{"type": "create", "description": f"Order {suggestion}",
                                             "resource": {"resourceType": "MedicationRequest", "status": "draft", "intent": "proposal",
                                                          "medicationCodeableConcept": {"text": suggestion}}}]}]  # fmt: skip
        card["selectionBehavior"] = "at-most-one"
    return card
