"""Property-based fuzzing of the service against its own OpenAPI schema (Schemathesis): no 5xx.

``CAUSALRX_FUZZ_EXAMPLES`` sets the examples per operation (default 25 here);
``benchmarks/fuzz_api.py`` runs more and saves the counts.
"""

import os
from collections import Counter

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from causalrx.api.audit import AuditLog  # noqa: E402
from causalrx.api.server import create_app, hash_token  # noqa: E402

TOKEN = "fuzz-admin-token"


def fuzz(app, examples: int) -> Counter:
    """Every operation of the app's OpenAPI schema with ``examples`` generated requests each; Counter of (operation, status)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    seen: Counter = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
        def run(case):
            response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
            seen[(f"{case.method} {case.path}", response.status_code)] += 1
            assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])

        run()
    return seen


def fuzz_app(bundle_dir, folder):
    audit = AuditLog(f"sqlite:///{folder / 'audit.sqlite'}")
    return create_app(bundle_dir, tokens={hash_token(TOKEN): {"name": "fuzz", "scopes": {"admin"}}}, audit=audit, rate_per_minute=10**9)


def test_no_server_errors(bundle_dir, tmp_path):
    seen = fuzz(fuzz_app(bundle_dir, tmp_path), int(os.environ.get("CAUSALRX_FUZZ_EXAMPLES", "25")))
    operations = {op for op, _ in seen}
    assert {"POST /cds-services/{service_id}", "POST /v1/recommendations", "GET /v1/audit"} <= operations
    assert sum(seen.values()) >= 100 and not [s for (_, s) in seen if s >= 500]
