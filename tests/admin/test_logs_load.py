"""Two instances × 1,000 requests: every log row once, usage and stats add up."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from tests.admin.conftest import NO_API_LIMIT, Running, admin_client, start_gateway
from tests.admin.test_logs_support import approx_equal, ask, drain, sdk
from tests.fakes.upstream import messages_json_reply
from tests.proxy.conftest import UpstreamFactory

ANT_KEY = "sk-ant-logs-load-000001"
PER_INSTANCE = 1000
CONCURRENCY = 40
UNLIMITED_V1 = {"enabled": True, "requestsPerMinute": 1_000_000}


async def _burst(gateway: Running, tag: str) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)
    async with sdk(gateway) as client:

        async def one(i: int) -> None:
            async with gate:
                await ask(client, who=(f"{tag}-client-{i % 5}", f"{tag}-session-{i % 23}"))

        await asyncio.gather(*(one(i) for i in range(PER_INSTANCE)))


async def test_two_instances_a_thousand_requests_each(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path, upstreams: UpstreamFactory
) -> None:
    dsn = request.getfixturevalue("pg_dsn") if engine == "postgres" else None
    a, close_a = await start_gateway(engine, tmp_path, dsn)
    b, close_b = await start_gateway(engine, tmp_path, dsn)
    try:
        # 1,000 requests a minute with the master key: raise the /v1 limit.
        await a.set_setting("ratelimit", json.dumps({**NO_API_LIMIT, "api": UNLIMITED_V1}))
        up = await upstreams(default=messages_json_reply(input_tokens=3, output_tokens=2))
        channel = await a.add_channel(
            "messages", "metered", up.url, [ANT_KEY], quota_type="requests", quota_limit=1e9
        )
        await b.reload()
        await asyncio.gather(_burst(a, "a"), _burst(b, "b"))
        await drain(a)
        await drain(b)

        rows = await a.db.daos.request_logs.list()
        assert len(rows) == 2 * PER_INSTANCE
        assert len({r.id for r in rows}) == len(rows)
        assert {r.status for r in rows} == {"completed"}
        usage = await a.db.daos.channel_usage.get(channel.channel_id)
        assert usage is not None and usage.used == 2 * PER_INSTANCE
        async with admin_client(a.url) as api_a, admin_client(b.url) as api_b:
            stats = (await api_a.get("/api/logs/stats")).json()
            assert stats["totalRequests"] == 2 * PER_INSTANCE
            assert stats["totalTokens"]["inputTokens"] == 3 * 2 * PER_INSTANCE
            assert sum(g["count"] for g in stats["byClient"].values()) == 2 * PER_INSTANCE
            approx_equal(stats, (await api_b.get("/api/logs/stats")).json())
            raw = await api_a.get("/api/logs/stats", params={"source": "raw"})
            approx_equal(stats, raw.json())
            await _page_through(api_b)
    finally:
        await close_b()
        await close_a()


async def _page_through(api: httpx.AsyncClient) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/api/logs", params=params)).json()
        seen += [r["id"] for r in page["requests"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 2 * PER_INSTANCE
