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
import jsonschema_rs
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


def _body_schema(document: dict[str, Any], path: str, method: str) -> Any:
    """Return a validator of the request body of one operation of the document."""
    op = document["paths"][path][method]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    # "#/components/..." resolves inside the schema itself.
    return jsonschema_rs.Draft202012Validator({**schema, "components": document["components"]})


# (method, path, document path, body, field the 422 names): each was a drift between the
# document and the server (issue 15); now the document forbids exactly what the server refuses.
DRIFTS = [
    ("post", "/api/gemini/channels", "/api/gemini/channels", {}, "name"),
    ("post", "/api/channels", "/api/channels", {"name": "x"}, "serviceType"),
    ("post", "/api/channels/reorder", "/api/channels/reorder", {"order": [-1]}, "order[0]"),
    (
        "post",
        "/api/responses/channels/reorder",
        "/api/responses/channels/reorder",
        {"order": [0, -5]},
        "order[1]",
    ),
    (
        "post",
        "/api/gemini/channels",
        "/api/gemini/channels",
        {"name": "g", "serviceType": "composite"},
        "serviceType",
    ),
    ("post", "/api/aliases/import", "/api/aliases/import", {"aliases": {"u": ""}}, "aliases"),
    ("post", "/api/channels/c1/keys", "/api/channels/{id}/keys", {"apiKey": ""}, "apiKey"),
    (
        "put",
        "/api/ratelimit",
        "/api/ratelimit",
        {"authFailure": {"thresholds": [{"failures": 3}]}},
        "authFailure.thresholds[0].blockMinutes",
    ),
    (
        "post",
        "/api/config/restore",
        "/api/config/restore",
        {"config": {"loadBalance": {}}},
        "config.loadBalance",
    ),
]


async def test_document_forbids_what_the_server_refuses(api: Any) -> None:
    created = await api.post(
        "/api/channels",
        json={"id": "c1", "name": "c1", "serviceType": "claude", "apiKeys": ["sk-ant-0000000001"]},
    )
    assert created.status_code == 200, created.text
    document = (await api.get("/api/openapi.json")).json()
    required = document["components"]["schemas"]["MessagesChannel"]["required"]
    assert required == ["name", "serviceType"]
    for method, path, doc_path, body, field in DRIFTS:
        validator = _body_schema(document, doc_path, method)
        assert not validator.is_valid(body), (path, body)
        resp = await api.request(method.upper(), path, json=body)
        assert resp.status_code == 422, (path, body, resp.text)
        assert resp.json()["field"] == field, (path, resp.json())
    # And what the document allows there is accepted.
    for method, path, doc_path, body in [
        ("post", "/api/channels/reorder", "/api/channels/reorder", {"order": [0]}),
        (
            "post",
            "/api/gemini/channels",
            "/api/gemini/channels",
            {"name": "g", "serviceType": "gemini"},
        ),
        ("post", "/api/aliases/import", "/api/aliases/import", {"aliases": {"u": "ann"}}),
    ]:
        assert _body_schema(document, doc_path, method).is_valid(body)
        resp = await api.request(method.upper(), path, json=body)
        assert resp.status_code == 200, (path, body, resp.text)


async def test_every_body_field_is_described(api: Any) -> None:
    schemas = (await api.get("/api/openapi.json")).json()["components"]["schemas"]
    missing = [
        f"{name}.{field}"
        for name, schema in schemas.items()
        for field, prop in schema.get("properties", {}).items()
        if name not in ("Problem", "Success") and not prop.get("description")
    ]
    assert not missing, missing


async def test_empty_query_values_are_absent_in_document_and_server(api: Any) -> None:
    # Drift: GET /api/logs?to= answered 200 while the document required a date-time.
    document = (await api.get("/api/openapi.json")).json()
    (param,) = [p for p in document["paths"]["/api/logs"]["get"]["parameters"] if p["name"] == "to"]
    validator = jsonschema_rs.Draft202012Validator(param["schema"])
    assert validator.is_valid("")
    assert validator.is_valid("2026-01-01T00:00:00Z")
    assert not validator.is_valid(5)
    assert (await api.get("/api/logs?to=")).status_code == 200
    assert (await api.get("/api/logs?to=2026-01-01T00:00:00Z")).status_code == 200
    bad = await api.get("/api/logs?to=yesterday")
    assert bad.status_code == 400
    assert bad.json()["code"] == "INVALID_PARAMETER"
