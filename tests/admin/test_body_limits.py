"""Every admin request body goes through the size limit, then its model.

Each operation the document gives a request body is sent a body nested far
deeper than the stack (400) and one larger than API_MAX_BODY_MB (413), and
nothing changes; the list is read from the document, so a new body route is
covered as soon as it is described.
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.admin.conftest import Running, db_state

DEEP = b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
POOLS = ("/api/channels", "/api/responses/channels", "/api/gemini/channels", "/api/chat/channels")
SERVICE = {"/api/gemini/channels": "gemini", "/api/chat/channels": "openai"}


async def _body_operations(api: httpx.AsyncClient, key_id: str) -> list[tuple[str, str]]:
    document = (await api.get("/api/openapi.json")).json()
    ops = []
    for path, item in document["paths"].items():
        pool = next((i for i, base in enumerate(POOLS) if path.startswith(base + "/")), 0)
        values = {"{id}": f"c{pool}", "{user_id}": "u1", "{key_id}": key_id, "{model}": "m1"}
        for method, op in item.items():
            if "requestBody" in op:
                concrete = re.sub(r"\{\w+\}", lambda m: values[m[0]], path)  # noqa: B023
                ops.append((method.upper(), concrete))
    return ops


@pytest.mark.gateway_env(API_MAX_BODY_MB="1")
async def test_every_body_route_refuses_deep_and_oversized_bodies(
    api: httpx.AsyncClient, gateway: Running
) -> None:
    for i, base in enumerate(POOLS):
        body = {"id": f"c{i}", "name": "c", "serviceType": SERVICE.get(base, "claude")}
        assert (await api.post(base, json=body)).status_code == 200
    key = await api.post("/api/keys", json={"name": "k1"})
    assert key.status_code == 201, key.text
    ops = await _body_operations(api, str(key.json()["id"]))
    assert len(ops) >= 40  # every pool's channel routes, settings, keys, pricing, backup
    before = await db_state(gateway)
    headers = {"content-type": "application/json"}
    for method, path in ops:
        deep = await api.request(method, path, content=DEEP, headers=headers)
        assert deep.status_code == 400, (method, path, deep.text)
        assert deep.json()["code"] == "INVALID_JSON", (method, path)
        large = await api.request(method, path, content=b" " * (2 << 20), headers=headers)
        assert large.status_code == 413, (method, path, large.text)
        assert large.json()["code"] == "BODY_TOO_LARGE", (method, path)
    assert await db_state(gateway) == before
