"""Two ccbridge instances on one database see each other's config writes.

PostgreSQL: instance B learns of A's write through NOTIFY (polling is set
to a minute here, so only NOTIFY can be fast enough), within 1 s.
SQLite: B polls the revision every second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.admin.conftest import Running, admin_client, start_gateway
from tests.fakes.upstream import DEFAULT_CLAUDE_MODEL, messages_json_reply
from tests.proxy.conftest import UpstreamFactory

ANT_KEY = "sk-ant-multi-0000000001"
PROMPT = {
    "model": DEFAULT_CLAUDE_MODEL,
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "hi"}],
}


@pytest.fixture
async def pair(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Running, Running]]:
    """Two gateways (own Gateway, Runtime, connections) on one database."""
    dsn = request.getfixturevalue("pg_dsn") if engine == "postgres" else None
    # PostgreSQL: a long poll, so only NOTIFY can deliver within a second.
    poll = "60" if engine == "postgres" else "1"
    a, close_a = await start_gateway(engine, tmp_path, dsn, CONFIG_POLL_INTERVAL=poll)
    b, close_b = await start_gateway(engine, tmp_path, dsn, CONFIG_POLL_INTERVAL=poll)
    try:
        yield a, b
    finally:
        await close_b()
        await close_a()


def _budget(engine: str) -> float:
    # NOTIFY: 1 s. Polling every second: one interval plus the reload.
    return 1.0 if engine == "postgres" else 2.0


async def _within(seconds: float, probe: Callable[[], Any]) -> float:
    """Wait until ``probe()`` (awaited) is truthy; return the time it took."""
    started = time.monotonic()
    while True:
        if await probe():
            return time.monotonic() - started
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not visible within {seconds} s")
        await asyncio.sleep(0.01)


async def _ask(url: str, key: str) -> int:
    async with httpx.AsyncClient(timeout=10) as http:
        resp = await http.post(f"{url}/v1/messages", json=PROMPT, headers={"x-api-key": key})
    return resp.status_code


async def test_channel_created_on_a_serves_through_b(
    engine: str, pair: tuple[Running, Running], upstreams: UpstreamFactory
) -> None:
    a, b = pair
    up = await upstreams(default=messages_json_reply())
    async with admin_client(a.url) as api:
        resp = await api.post(
            "/api/channels",
            json={
                "name": "shared",
                "serviceType": "claude",
                "baseUrl": up.url,
                "apiKeys": [ANT_KEY],
            },
        )
    assert resp.status_code == 200
    uid = resp.json()["id"]

    async def visible() -> bool:
        return uid in b.rt.snapshot.channels_by_uid

    await _within(_budget(engine), visible)
    assert await _ask(b.url, "test-master-key-0123456789") == 200
    assert up.requests[0].header("x-api-key") == ANT_KEY


async def test_key_revoked_on_a_is_refused_on_b(
    engine: str, pair: tuple[Running, Running], upstreams: UpstreamFactory
) -> None:
    a, b = pair
    up = await upstreams(default=messages_json_reply())
    await a.add_channel("messages", "c1", up.url, [ANT_KEY])
    async with admin_client(a.url) as api:
        created = (await api.post("/api/keys", json={"name": "laptop"})).json()
        key = created["key"]

        async def accepted() -> bool:
            return await _ask(b.url, key) == 200

        await _within(_budget(engine) + 1, accepted)
        resp = await api.post(f"/api/keys/{created['id']}/revoke")
        assert resp.status_code == 200

    async def refused() -> bool:
        # The polls above were /v1 failures too: the address may be blocked by now.
        return await _ask(b.url, key) in (401, 429)

    await _within(_budget(engine), refused)
    async with admin_client(b.url) as api_b:  # and it can never come back
        resp = await api_b.post(f"/api/keys/{created['id']}/enable")
    assert resp.status_code == 409


async def test_concurrent_writes_with_one_revision_one_wins(
    pair: tuple[Running, Running],
) -> None:
    a, b = pair
    async with admin_client(a.url) as api_a, admin_client(b.url) as api_b:
        created = await api_a.post("/api/channels", json={"name": "c", "serviceType": "claude"})
        uid = created.json()["id"]
        etag = created.headers["etag"]
        first, second = await asyncio.gather(
            api_a.put(f"/api/channels/{uid}", json={"name": "from-a"}, headers={"If-Match": etag}),
            api_b.put(f"/api/channels/{uid}", json={"name": "from-b"}, headers={"If-Match": etag}),
        )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    loser = first if first.status_code == 409 else second
    assert loser.json()["error"] == "Configuration changed; reload and retry"
    (row,) = await a.db.daos.channels.list(where={"channel_id": uid})
    assert row.name == ("from-a" if first.status_code == 200 else "from-b")
    winner_etag = (first if first.status_code == 200 else second).headers["etag"]
    assert int(winner_etag.strip('"')) == int(etag.strip('"')) + 1
