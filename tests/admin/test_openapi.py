"""GET /api/openapi.json, and a property-based run over it (schemathesis).

Every documented operation is called with generated requests against a real
gateway on each engine by the schemathesis CLI with every check it has:
no 5xx, status codes, content types, headers and bodies as documented,
requests the document forbids refused (negative data, unsupported methods,
missing required headers, ignored auth), valid ones accepted. The /api rate
limit and the auth-failure guard are off for the run (st_hooks.py switches
them off again after every successful write: a restore, a rollback or a reset
can bring them back).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Final

import jsonschema_rs
import pytest
import schemathesis

from tests.admin import st_hooks
from tests.admin.conftest import MASTER_KEY, Running


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


ST_DIR: Final = Path(__file__).parent
REPO: Final = ST_DIR.parent.parent
# The document's examples, then generated cases (valid and invalid) of every operation,
# every check on each. Not the coverage phase: its boundary cases of every field and
# parameter (about 19000 here) took 220 s of an engine's 300 s, more under load; the
# route tests check the bounds, and DRIFTS below that the document forbids what is refused.
PHASES: Final = "examples,fuzzing"
# Per-operation cases of the fuzzing phase: 4 gives about 1200 cases over the 171
# operations, about 65 s per engine on the shared 2-core machine (load average 4.5).
MAX_EXAMPLES: Final = 4
# Seconds per engine: a bound against a run that blows up, with room for a loaded machine.
TIME_BUDGET: Final = 300.0


def _schemathesis(document_path: Path, url: str) -> subprocess.CompletedProcess[str]:
    """Run the schemathesis CLI over the document with every check it has.

    It runs in the document's directory (a temporary one), so no state it
    keeps (.schemathesis/, crash replays) carries over between runs.
    """
    cli = Path(sys.executable).parent / "st"
    args = [
        str(cli),
        "--config-file",
        str(ST_DIR / "schemathesis.toml"),
        "run",
        str(document_path),
        "--url",
        url,
        "--header",
        f"x-api-key:{MASTER_KEY}",
        "--phases",
        PHASES,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",
        "--no-shrink",
        # One worker: the after_call hook switches limits off between calls, and two
        # workers would race it (one's generated limit masking the other's cases).
        "--workers",
        "1",
        "--continue-on-failure",
        "--max-failures",
        "10000",
        "--no-color",
        "--warnings",
        "off",
    ]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.admin.st_hooks",
        "CCBRIDGE_ST_URL": url,
        "CCBRIDGE_ST_KEY": MASTER_KEY,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        env=env,
        cwd=document_path.parent,
        timeout=TIME_BUDGET + 120,
        check=False,
    )


async def test_property_run_passes_every_check(gateway: Running, api: Any, tmp_path: Path) -> None:
    """Every operation, every schemathesis check, limits and guard off so nothing is masked."""
    assert (await api.put("/api/ratelimit", json=st_hooks.OFF)).status_code == 200
    seed = await api.post(
        "/api/channels",
        json={
            "name": "seed",
            "serviceType": "claude",
            "baseUrl": "http://127.0.0.1:9",
            "apiKeys": ["sk-ant-seed-000000000000"],
        },
    )
    assert seed.status_code == 200, seed.text
    assert (await api.post("/api/keys", json={"name": "seed"})).status_code == 201
    document = (await api.get("/api/openapi.json")).json()
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(document))
    started = time.monotonic()
    proc = await asyncio.to_thread(_schemathesis, path, gateway.url)
    elapsed = time.monotonic() - started
    output = proc.stdout + proc.stderr
    (tmp_path / "schemathesis.txt").write_text(output)
    assert proc.returncode == 0, _failures(output)
    assert f"Tested: {_operations(document)}" in output, output[-3000:]
    assert elapsed < TIME_BUDGET, f"{elapsed:.0f} s"


def _failures(output: str) -> str:
    """Return the failures and errors of a CLI report (the start of each)."""
    start = min(
        (i for i in (output.find("= ERRORS ="), output.find("= FAILURES =")) if i >= 0), default=0
    )
    return output[start : start + 60_000]


def _operations(document: dict[str, Any]) -> int:
    methods = ("get", "put", "post", "delete", "patch")
    return sum(1 for item in document["paths"].values() for m in item if m in methods)


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


def test_hook_addresses_are_distinct_and_never_the_clients() -> None:
    addresses = [st_hooks.source_address(n) for n in range(200_000)]
    assert len(set(addresses)) == len(addresses)
    assert addresses[0] == "127.1.0.1"
    assert all(a.startswith("127.") and not a.startswith("127.0.") for a in addresses)
    assert all(not a.endswith((".0", ".255")) for a in addresses)


async def test_the_hook_switches_limits_off_that_a_restore_brought_back(
    gateway: Running, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restore of a backup whose `ratelimit` is on, then the hook: the limits are off."""
    assert (await api.put("/api/ratelimit", json=st_hooks.OFF)).status_code == 200
    backup = (await api.get("/api/config/backup")).json()
    backup["ratelimit"]["api"] = {"enabled": True, "requestsPerMinute": 1000}
    restored = await api.post("/api/config/restore?allowEmptyPools=true", json=backup)
    assert restored.status_code == 200, restored.text
    assert (await api.get("/api/ratelimit")).json()["api"]["enabled"] is True

    case = SimpleNamespace(method="POST", path="/api/config/restore")
    refused = SimpleNamespace(status_code=422)
    monkeypatch.delenv("CCBRIDGE_ST_URL", raising=False)
    st_hooks.after_call(None, case, refused)  # a refused write changes nothing: no call
    monkeypatch.setenv("CCBRIDGE_ST_URL", gateway.url)
    monkeypatch.setenv("CCBRIDGE_ST_KEY", MASTER_KEY)
    await asyncio.to_thread(st_hooks.after_call, None, case, SimpleNamespace(status_code=200))
    limits = (await api.get("/api/ratelimit")).json()
    assert limits["api"]["enabled"] is False
    assert limits["authFailure"]["enabled"] is False
