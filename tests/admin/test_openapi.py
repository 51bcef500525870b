"""GET /api/openapi.json, and a property-based run over it (schemathesis).

Every documented operation is called with generated requests against a real
gateway on each engine; no answer may be a 5xx or break the document
(status code, content type and body schema).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import checks

from tests.admin.conftest import MASTER_KEY, Running

MAX_EXAMPLES = 4
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


async def test_document_is_openapi_31_and_describes_every_route(api: Any) -> None:
    resp = await api.get("/api/openapi.json")
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["openapi"] == "3.1.0"
    paths = doc["paths"]
    for path in (
        "/api/channels",
        "/api/responses/channels/{id}",
        "/api/gemini/channels/{id}/keys/index/{key_index}",
        "/api/chat/loadbalance",
        "/api/keys/{key_id}/revoke",
        "/api/pricing/models/{model}",
        "/api/model-aliases/reset",
        "/api/aliases/import",
        "/api/ratelimit/reset",
        "/api/config/failover/reset",
        "/api/config/restore",
        "/api/messages/channels/current",
        "/api/openapi.json",
    ):
        assert path in paths, path
    for item in paths.values():
        for op in item.values():
            assert "200" in op["responses"] or "201" in op["responses"]
    schemathesis.openapi.from_dict(doc)  # loads as a valid 3.1 document


async def test_document_needs_admin_auth(gateway: Running) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=gateway.url) as anon:
        resp = await anon.get("/api/openapi.json")
    assert resp.status_code == 401
    assert resp.headers["content-type"] == "application/problem+json"


def _streaming(operation: Any) -> bool:
    responses = operation.definition.raw.get("responses", {})
    return any("text/event-stream" in (r.get("content") or {}) for r in responses.values())


def _last_if_limiting(operation: Any) -> bool:
    # Writing rate limits can switch the /api limit on; run those last.
    return operation.path.startswith("/api/ratelimit")


def _fuzz(document: dict[str, Any], base_url: str) -> tuple[list[str], Counter[int]]:
    """Run every operation; return failures (one per operation) and statuses."""
    schema = schemathesis.openapi.from_dict(document)
    session = requests.Session()
    session.headers["x-api-key"] = MASTER_KEY
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    operations = [r.ok() for r in schema.get_all_operations()]
    for operation in sorted(operations, key=_last_if_limiting):
        if _streaming(operation):
            continue

        @hypothesis.settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @hypothesis.given(case=operation.as_strategy())
        def run(case: Any) -> None:
            response = case.call(base_url=base_url, session=session, timeout=15)
            statuses[response.status_code] += 1
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except Exception as ex:  # collect every operation's failure, then report
            failures.append(f"{operation.method.upper()} {operation.path}: {ex}"[:2000])
    return failures, statuses


async def test_property_run_finds_no_5xx_and_no_broken_response(gateway: Running, api: Any) -> None:
    await api.post(
        "/api/channels",
        json={
            "name": "seed",
            "serviceType": "claude",
            "baseUrl": "http://127.0.0.1:9",
            "apiKeys": ["sk-ant-seed-000000000000"],
        },
    )
    await api.post("/api/keys", json={"name": "seed"})
    document = (await api.get("/api/openapi.json")).json()
    started = time.monotonic()
    failures, statuses = await asyncio.to_thread(_fuzz, document, gateway.url)
    assert not failures, "\n\n".join(failures)
    assert not any(status >= 500 for status in statuses)
    assert sum(n for status, n in statuses.items() if status < 300) > 100, statuses
    assert time.monotonic() - started < 60
