"""ENABLE_CORS / CORS_ORIGIN: preflights and answers for configured origins only."""

from __future__ import annotations

import pytest

from tests.fakes.upstream import messages_json_reply
from tests.proxy.conftest import MASTER_KEY, Running, UpstreamFactory, http_client

ALLOWED = "https://ui.example.com"
OTHER = "https://evil.example.net"
ON = pytest.mark.gateway_env(ENABLE_CORS="true", CORS_ORIGIN=f"{ALLOWED}, http://localhost:5173")


def _preflight(origin: str, method: str = "POST", headers: str = "x-api-key, content-type"):
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


@ON
async def test_preflight_of_a_listed_origin_needs_no_key(gateway: Running) -> None:
    async with http_client() as client:
        for path in ("/v1/messages", "/api/channels", "/admin/config/reload"):
            resp = await client.options(gateway.url + path, headers=_preflight(ALLOWED))
            assert resp.status_code == 204, path
            assert resp.headers["access-control-allow-origin"] == ALLOWED
            assert "POST" in resp.headers["access-control-allow-methods"]
            assert resp.headers["access-control-allow-headers"] == "x-api-key, content-type"
            assert resp.headers["vary"] == "Origin"
        local = await client.options(
            gateway.url + "/api/keys", headers=_preflight("http://localhost:5173", "GET")
        )
        assert local.headers["access-control-allow-origin"] == "http://localhost:5173"


@ON
async def test_other_origins_get_no_cors_headers(gateway: Running) -> None:
    async with http_client() as client:
        pre = await client.options(gateway.url + "/v1/messages", headers=_preflight(OTHER))
        assert pre.status_code == 403
        assert "access-control-allow-origin" not in pre.headers
        plain = await client.get(
            gateway.url + "/api/channels", headers={"Origin": OTHER, "x-api-key": MASTER_KEY}
        )
        assert plain.status_code == 200
        assert "access-control-allow-origin" not in plain.headers


@ON
async def test_answers_and_errors_are_readable_by_a_listed_origin(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    up = await upstreams(messages_json_reply())
    await gateway.add_channel("messages", "a", up.url, ["sk-ant-a"])
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 8,
        "messages": [{"role": "user", "content": "hi"}],
    }
    async with http_client() as client:
        ok = await client.post(
            gateway.url + "/v1/messages",
            json=body,
            headers={"Origin": ALLOWED, "x-api-key": MASTER_KEY},
        )
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == ALLOWED
        assert "x-request-id" in ok.headers["access-control-expose-headers"]
        refused = await client.get(gateway.url + "/api/channels", headers={"Origin": ALLOWED})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == ALLOWED


async def test_off_by_default(gateway: Running) -> None:
    async with http_client() as client:
        resp = await client.options(gateway.url + "/api/channels", headers=_preflight(ALLOWED))
        assert "access-control-allow-origin" not in resp.headers
        got = await client.get(
            gateway.url + "/api/channels", headers={"Origin": ALLOWED, "x-api-key": MASTER_KEY}
        )
        assert "access-control-allow-origin" not in got.headers


@pytest.mark.gateway_env(HEALTH_CHECK_PATH="/healthz")
async def test_health_check_path_moves_the_probe(gateway: Running) -> None:
    async with http_client() as client:
        moved = await client.get(gateway.url + "/healthz")
        assert moved.status_code == 200 and moved.json()["status"] == "healthy"
        assert (await client.get(gateway.url + "/health")).status_code != 200
