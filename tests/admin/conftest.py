"""A real ccbridge gateway and an admin HTTP client, on each engine.

The /api rate limit is switched off here (tests send many requests from one
address); test_guard.py turns it back on where it is the subject.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ccbridge.app import create_app
from tests.proxy.conftest import (  # noqa: F401 - fixtures re-exported for tests/admin
    MASTER_KEY,
    Running,
    serve,
    settings_for,
    stop,
    upstreams,
)

NO_API_LIMIT = {"portal": {"enabled": False, "requestsPerMinute": 0}}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "gateway_env(**env): extra environment for the `gateway` fixture"
    )


def admin_client(url: str, key: str = MASTER_KEY) -> httpx.AsyncClient:
    """Return an HTTP client for a gateway's admin API."""
    return httpx.AsyncClient(base_url=url, headers={"x-api-key": key}, timeout=20)


async def start_gateway(
    engine: str, tmp_path: Path, dsn: str | None, **env: str
) -> tuple[Running, Any]:
    """Start a gateway with the /api limit off; return it and its stopper."""
    app = create_app(settings_for(engine, tmp_path, dsn, **env))
    server, task, url = await serve(app)
    running = Running(app, url)
    await running.set_setting("ratelimit", json.dumps(NO_API_LIMIT))

    async def close() -> None:
        await stop(server, task)

    return running, close


@pytest.fixture
async def gateway(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Running]:
    """A running gateway on each engine (env from a `gateway_env` marker)."""
    dsn = request.getfixturevalue("pg_dsn") if engine == "postgres" else None
    marker = request.node.get_closest_marker("gateway_env")
    env = dict(marker.kwargs) if marker is not None else {}
    running, close = await start_gateway(engine, tmp_path, dsn, **env)
    try:
        yield running
    finally:
        await close()


@pytest.fixture
async def api(gateway: Running) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client (master key) for the gateway."""
    async with admin_client(gateway.url) as client:
        yield client


async def db_state(gateway: Running) -> dict[str, Any]:
    """Return every config table's rows, to assert that nothing changed."""
    daos = gateway.db.daos
    return {
        "channels": await daos.channels.list(order_by="id"),
        "settings": await daos.settings.list(),
        "api_keys": await daos.api_keys.list(),
        "model_pricing": await daos.model_pricing.list(),
        "model_aliases": await daos.model_aliases.list(),
        "user_aliases": await daos.user_aliases.list(),
        "channel_usage": await daos.channel_usage.list(),
        "channel_suspensions": await daos.channel_suspensions.list(),
    }
