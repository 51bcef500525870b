"""A real ccbridge on loopback (uvicorn, real database) for proxy tests.

`gateway` runs once per engine: SQLite on a file in tmp_path, PostgreSQL
on a fresh database of the session's server.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from ccbridge.app import Gateway, create_app
from ccbridge.proxy.auth import hash_key
from ccbridge.settings import Settings
from generated.rows import ApiKeysRow, ChannelsRow, ModelPricingRow, RequestLogsRow

MASTER_KEY = "test-master-key-0123456789"


@dataclass
class Running:
    """A started gateway and helpers to configure it."""

    gateway: Gateway
    url: str

    @property
    def db(self) -> Any:
        return self.gateway.db

    @property
    def rt(self) -> Any:
        assert self.gateway.runtime is not None
        return self.gateway.runtime

    async def add_channel(
        self, pool: str, name: str, base_url: str, keys: list[str], **fields: Any
    ) -> ChannelsRow:
        """Create a channel and make this instance see it at once."""
        uid = fields.pop("channel_id", secrets.token_hex(4))
        row = ChannelsRow(
            channel_id=uid,
            channel_type=pool,
            name=name,
            service_type=fields.pop(
                "service_type", "claude" if pool == "messages" else "responses"
            ),
            base_url=base_url,
            api_keys=keys,
            **fields,
        )
        async with self.db.transaction() as tx:
            stored = await tx.channels.insert(row)
            await tx.settings.bump_revision()
        await self.reload()
        return stored

    async def add_key(self, name: str, **fields: Any) -> str:
        """Create a managed client key; return the plain key."""
        plain = "sk-" + secrets.token_hex(24)
        async with self.db.transaction() as tx:
            await tx.api_keys.insert(
                ApiKeysRow(
                    name=name, key_hash=hash_key(plain), key_prefix=plain[:8] + "...", **fields
                )
            )
            await tx.settings.bump_revision()
        await self.reload()
        return plain

    async def add_price(
        self, model: str, input_price: float, output_price: float, **fields: Any
    ) -> None:
        """Set a model price."""
        async with self.db.transaction() as tx:
            await tx.model_pricing.upsert(
                ModelPricingRow(
                    model_id=model, input_price=input_price, output_price=output_price, **fields
                )
            )
            await tx.settings.bump_revision()
        await self.reload()

    async def reload(self) -> None:
        """Refresh this instance from the database now."""
        assert self.gateway.reloader is not None
        await self.gateway.reloader.refresh()

    async def flush(self) -> None:
        """Wait until the writer has written everything queued."""
        writer = self.rt.writer
        for _ in range(400):
            if writer.pending == 0:
                await asyncio.sleep(0.06)  # a flush may be in flight
                if writer.pending == 0:
                    return
            await asyncio.sleep(0.01)
        raise AssertionError("writer did not drain")

    async def logs(self) -> list[RequestLogsRow]:
        """Return every request log row, oldest first."""
        await self.flush()
        rows = await self.db.daos.request_logs.list(order_by=("initial_time", "id"))
        return list(rows)


def settings_for(engine: str, tmp_path: Path, dsn: str | None, **env: str) -> Settings:
    """Return settings for a test gateway."""
    base = {
        "PROXY_ACCESS_KEY": MASTER_KEY,
        "CCBRIDGE_DATA_DIR": str(tmp_path / "data"),
        "CONFIG_POLL_INTERVAL": "1",
        "DB_POOL_MIN": "1",
        "DB_POOL_MAX": "4",
    }
    if engine == "sqlite":
        base["DATABASE_URL"] = str(tmp_path / "data" / "cc-bridge.db")
    else:
        base |= {"DATABASE_TYPE": "postgresql", "DATABASE_URL": str(dsn)}
    return Settings.from_env(base | env)


async def serve(gateway: Gateway) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    """Start uvicorn for a gateway on a free loopback port."""
    config = uvicorn.Config(
        gateway, host="127.0.0.1", port=0, lifespan="on", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if not server.started:
        task.result() if task.done() else task.cancel()
        raise RuntimeError("gateway did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://127.0.0.1:{port}"


async def stop(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    """Stop uvicorn (runs the lifespan shutdown)."""
    server.should_exit = True
    await asyncio.wait_for(task, 15)


@pytest.fixture
async def gateway(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Running]:
    """A running gateway on each engine."""
    dsn = request.getfixturevalue("pg_dsn") if engine == "postgres" else None
    app = create_app(settings_for(engine, tmp_path, dsn))
    server, task, url = await serve(app)
    try:
        yield Running(app, url)
    finally:
        await stop(server, task)
