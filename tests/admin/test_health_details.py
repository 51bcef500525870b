"""GET /api/health/details on real gateways: two instances sharing one database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.admin.conftest import admin_client, start_gateway
from tests.proxy.conftest import Running

PATH = "/api/health/details"


@pytest.fixture
async def pair(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Running, Running]]:
    dsn = request.getfixturevalue("pg_dsn") if engine == "postgres" else None
    a, close_a = await start_gateway(engine, tmp_path, dsn)
    b, close_b = await start_gateway(engine, tmp_path, dsn)
    try:
        yield a, b
    finally:
        await close_b()
        await close_a()


async def test_details_name_both_instances_pool_writer_and_revision(
    engine: str, pair: tuple[Running, Running]
) -> None:
    a, b = pair
    async with httpx.AsyncClient(timeout=10) as anonymous:
        assert (await anonymous.get(a.url + PATH)).status_code == 401
    ids = {a.rt.writer.instance_id, b.rt.writer.instance_id}
    for _ in range(50):  # each beats once a second from its start
        async with admin_client(a.url) as api:
            resp = await api.get(PATH)
        assert resp.status_code == 200
        body = resp.json()
        if {i["instanceId"] for i in body["instances"]} >= ids:
            break
        await asyncio.sleep(0.1)
    assert {i["instanceId"] for i in body["instances"]} >= ids
    assert body["status"] == "healthy"
    assert body["database"]["ok"] is True and body["database"]["type"] == (
        "postgres" if engine == "postgres" else "sqlite"
    )
    assert 0 <= body["database"]["latencyMs"] < 2000
    assert body["instanceId"] == a.rt.writer.instance_id
    mine = [i for i in body["instances"] if i["self"]]
    assert [i["instanceId"] for i in mine] == [body["instanceId"]]
    now = datetime.now(UTC)
    for inst in body["instances"]:
        if inst["instanceId"] in ids:
            beat = datetime.fromisoformat(inst["heartbeatAt"].replace("Z", "+00:00"))
            assert (now - beat).total_seconds() < 10
    assert body["config"]["revision"] == a.rt.live.snapshot.revision
    assert body["writer"]["queueDepth"] >= 0 and body["writer"]["failedFlushes"] == 0
    if engine == "postgres":
        pool = body["pool"]
        assert pool["size"] >= 1 and pool["inUse"] >= 0 and pool["waiting"] == 0
        assert pool["max"] == 4
    else:
        assert body["pool"] is None
