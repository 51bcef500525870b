"""A real ccbridge on loopback (uvicorn, real database) for proxy tests.

`gateway` runs once per engine: SQLite on a file in tmp_path, PostgreSQL
on a fresh database of the session's server. `upstreams` starts fake
upstreams; `claude`/`codex` (or `claude_client`/`codex_client`) are the
official SDKs pointed at the gateway, `http_client` a raw HTTP client.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import anthropic
import httpx
import httpx2
import openai
import pytest
import uvicorn

from ccbridge.access.auth import hash_key
from ccbridge.app import Gateway, create_app
from ccbridge.settings import Settings
from generated.rows import (
    ApiKeysRow,
    ChannelsRow,
    ChannelSuspensionsRow,
    ChannelUsageRow,
    ModelPricingRow,
    RequestLogsRow,
    SettingsRow,
)
from tests.conftest import _migrated_template
from tests.fakes.upstream import FakeUpstream, Reply
from tests.pgserver import PgServer

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

    async def update_channel(self, row: ChannelsRow, **fields: Any) -> ChannelsRow:
        """Change columns of a channel and make this instance see it."""
        changed = dataclasses.replace(row, **fields)
        async with self.db.transaction() as tx:
            await tx.channels.update(changed)
            await tx.settings.bump_revision()
        await self.reload()
        return changed

    async def set_key_status(self, plain: str, status: str) -> None:
        """Change the status of a managed client key."""
        async with self.db.transaction() as tx:
            (row,) = await tx.api_keys.list(where={"key_hash": hash_key(plain)})
            await tx.api_keys.update(dataclasses.replace(row, status=status))
            await tx.settings.bump_revision()
        await self.reload()

    async def set_setting(self, key: str, value: str, category: str = "config") -> None:
        """Write one settings row and bump the config revision."""
        async with self.db.transaction() as tx:
            await tx.settings.upsert(SettingsRow(key=key, value=value, category=category))
            await tx.settings.bump_revision()
        await self.reload()

    async def set_failover(self, rules: list[dict[str, Any]], *, enabled: bool = True) -> None:
        """Store failover rules (camelCase JSON, as the reference does).

        ``enabled`` defaults to True here, which turns the circuit breaker
        off, so one failure does not take a channel out of later requests.
        """
        await self.set_setting("failover", json.dumps({"enabled": enabled, "rules": rules}))

    async def suspensions(self) -> list[ChannelSuspensionsRow]:
        """Return the channel_suspensions rows once everything is written."""
        await self.flush()
        return list(await self.db.daos.channel_suspensions.list())

    async def usage(self, uid: str) -> ChannelUsageRow | None:
        """Return a channel's channel_usage row once everything is written."""
        await self.flush()
        return await self.db.daos.channel_usage.get(uid)

    async def reload(self) -> None:
        """Refresh this instance from the database now."""
        assert self.gateway.runtime is not None
        await self.gateway.runtime.reloader.refresh()

    async def flush(self) -> None:
        """Wait until the writer has written everything queued."""
        writer = self.rt.writer
        for _ in range(1000):
            async with writer.paused():  # waits out a flush in progress
                if writer.pending == 0:
                    return
            await asyncio.sleep(0.005)
        raise AssertionError("writer did not drain")

    async def logs(self) -> list[RequestLogsRow]:
        """Return every request log row, oldest first."""
        await self.flush()
        rows = await self.db.daos.request_logs.list(order_by=("initial_time", "id"))
        return list(rows)


def dead_url() -> str:
    """Return a loopback URL whose port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "gateway_env(**env): extra environment for the `gateway` fixture"
    )


# PERF(tests): building a TLS context loads the CA bundle (~60 ms). Test
# clients share one; gateways start with bare contexts (no test sends TLS
# through a gateway; test_upstream_client.py covers TLS with its own client).
CLIENT_TLS = ssl.create_default_context()


def _bare_tls_context(*args: Any, **kwargs: Any) -> ssl.SSLContext:
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def http_client(**kwargs: Any) -> httpx.AsyncClient:
    """Return a plain HTTP client for raw requests to a gateway."""
    return httpx.AsyncClient(verify=CLIENT_TLS, timeout=10, **kwargs)


def claude_client(
    gateway: Running, key: str = MASTER_KEY, **kwargs: Any
) -> anthropic.AsyncAnthropic:
    """Return the official Anthropic SDK pointed at a gateway."""
    return anthropic.AsyncAnthropic(
        base_url=gateway.url,
        api_key=key,
        max_retries=0,
        timeout=20,
        http_client=httpx2.AsyncClient(verify=CLIENT_TLS),
        **kwargs,
    )


def codex_client(gateway: Running, key: str = MASTER_KEY) -> openai.AsyncOpenAI:
    """Return the official OpenAI SDK pointed at a gateway."""
    return openai.AsyncOpenAI(
        base_url=f"{gateway.url}/v1",
        api_key=key,
        max_retries=0,
        timeout=20,
        http_client=httpx2.AsyncClient(verify=CLIENT_TLS),
    )


class _Databases:
    """PostgreSQL template copies made one test ahead, in a worker thread.

    PERF(tests): CREATE DATABASE takes ~0.25 s here; made while the
    previous test runs, it costs nothing. Drops run on the worker too.
    """

    def __init__(self, server: PgServer) -> None:
        self._server = server
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="pg-databases")
        self._next: Future[str] | None = None

    async def take(self) -> str:
        template = await _migrated_template(self._server)
        ready = self._next or self._worker.submit(self._server.create_database, template)
        self._next = self._worker.submit(self._server.create_database, template)
        return await asyncio.wrap_future(ready)

    async def drop(self, dsn: str) -> None:
        await asyncio.wrap_future(self._worker.submit(self._server.drop_database, dsn))

    def close(self) -> None:
        if self._next is not None:
            self._server.drop_database(self._next.result(timeout=30))
        self._worker.shutdown()


class _Reaper:
    """Gateways stopping in the background while the next test runs.

    PERF(tests): uvicorn's shutdown idles ~0.2 s (fixed sleeps). A test
    followed by one without a gateway (or by none) waits for all of them,
    so nothing outlives the session's PostgreSQL server.
    """

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[None]] = []

    def add(self, done: Coroutine[Any, Any, None]) -> None:
        self.tasks.append(asyncio.create_task(done))

    async def wait(self) -> None:
        tasks, self.tasks = self.tasks, []
        await asyncio.gather(*tasks)


_NEXT_USES_GATEWAY = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    # `_reaper`, not `gateway`: other suites name their own, non-waiting fixture `gateway`.
    item.stash[_NEXT_USES_GATEWAY] = nextitem is not None and "_reaper" in getattr(
        nextitem, "fixturenames", ()
    )
    return (yield)


@pytest.fixture(scope="session")
def _reaper() -> Iterator[_Reaper]:
    reaper = _Reaper()
    yield reaper
    assert not reaper.tasks, "a gateway was left stopping"


@pytest.fixture(scope="session")
def _databases(pg_server: PgServer) -> Iterator[_Databases]:
    supply = _Databases(pg_server)
    yield supply
    supply.close()


@pytest.fixture
async def gateway(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path, _reaper: _Reaper
) -> AsyncIterator[Running]:
    """A running gateway on each engine (env from a `gateway_env` marker).

    PostgreSQL databases are copies of the session's migrated template.
    """
    databases = request.getfixturevalue("_databases") if engine == "postgres" else None
    dsn = await databases.take() if databases is not None else None
    marker = request.node.get_closest_marker("gateway_env")
    env = dict(marker.kwargs) if marker is not None else {}
    app = create_app(settings_for(engine, tmp_path, dsn, **env))
    try:
        with mock.patch.object(ssl, "create_default_context", _bare_tls_context):
            server, task, url = await serve(app)
    except BaseException:
        if databases is not None and dsn is not None:
            await databases.drop(dsn)
        raise
    try:
        yield Running(app, url)
    finally:
        _reaper.add(_shut_down(server, task, databases, dsn))
        if not request.node.stash.get(_NEXT_USES_GATEWAY, False):
            await _reaper.wait()


async def _shut_down(
    server: uvicorn.Server, task: asyncio.Task[None], databases: _Databases | None, dsn: str | None
) -> None:
    try:
        await stop(server, task)
    finally:
        if databases is not None and dsn is not None:
            await databases.drop(dsn)


UpstreamFactory = Callable[..., Awaitable[FakeUpstream]]


@pytest.fixture
async def upstreams() -> AsyncIterator[UpstreamFactory]:
    """Start fake upstreams on demand; all are closed after the test."""
    started: list[FakeUpstream] = []

    async def start(*replies: Reply, **kwargs: Any) -> FakeUpstream:
        up = FakeUpstream(*replies, **kwargs)
        await up.start()
        started.append(up)
        return up

    yield start
    for up in started:
        await up.close()


@pytest.fixture
async def claude(gateway: Running) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """The official Anthropic SDK pointed at the gateway (master key)."""
    async with claude_client(gateway) as client:
        yield client


@pytest.fixture
async def codex(gateway: Running) -> AsyncIterator[openai.AsyncOpenAI]:
    """The official OpenAI SDK pointed at the gateway (master key)."""
    async with codex_client(gateway) as client:
        yield client
