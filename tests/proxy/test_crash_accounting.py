"""kill -9 under load: no answered request loses its row, none stays pending.

A real `ccbridge serve` in a child process takes bounded load (a few
clients, each request tagged with its own session id), is SIGKILLed,
then started again on the same database. Each client outcome is then
compared with the rows of its session, one by one.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ccbridge.db.base import Database, connect
from ccbridge.db.migrate import migrate
from generated.rows import ChannelsRow, RequestLogsRow
from tests.fakes.upstream import FakeUpstream, messages_sse_reply
from tests.proxy.childserver import free_port, serve, until_healthy
from tests.proxy.conftest import MASTER_KEY, settings_for

CLIENTS = 6
LOAD_SECONDS = 2.0
WINDOW = 0.25  # the documented loss window of the writer
SETTLE_WITHIN = 10.0
MODEL = "claude-haiku-4-5"


@dataclass
class Sent:
    """One request as its client saw it (monotonic times)."""

    session: str
    started: float
    finished: float | None = None  # the whole answer arrived


async def _client(port: int, index: int, stop: asyncio.Event, sent: list[Sent]) -> None:
    url = f"http://127.0.0.1:{port}/v1/messages"
    async with httpx.AsyncClient(timeout=10) as http:
        n = 0
        while not stop.is_set():
            n += 1
            one = Sent(f"crash-{index}-{n}", time.monotonic())
            sent.append(one)
            user = {"device_id": "d", "account_uuid": "crash", "session_id": one.session}
            body = {
                "model": MODEL,
                "max_tokens": 8,
                "stream": True,
                "messages": [{"role": "user", "content": "hi"}],
                "metadata": {"user_id": json.dumps(user)},
            }
            try:
                async with http.stream(
                    "POST", url, json=body, headers={"x-api-key": MASTER_KEY}
                ) as resp:
                    data = b"".join([chunk async for chunk in resp.aiter_bytes()])
                if resp.status_code == 200 and b"message_stop" in data:
                    one.finished = time.monotonic()
            except httpx.HTTPError:
                return  # the server died under us


async def _rows(db: Database) -> dict[str, list[RequestLogsRow]]:
    by_session: dict[str, list[RequestLogsRow]] = {}
    for row in await db.daos.request_logs.list():
        by_session.setdefault(row.session_id or "", []).append(row)
    return by_session


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
async def test_kill_9_under_load_loses_no_answered_request(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    databases = request.getfixturevalue("_databases") if engine == "postgres" else None
    dsn = await databases.take() if databases is not None else None
    settings = settings_for(engine, tmp_path, dsn)
    env = {
        "PROXY_ACCESS_KEY": MASTER_KEY,
        "CCBRIDGE_DATA_DIR": str(settings.data_dir),
        "DATABASE_TYPE": "postgresql" if engine == "postgres" else "sqlite",
        "DATABASE_URL": str(dsn if dsn is not None else settings.sqlite_path),
        "DB_POOL_MIN": "1",
        "DB_POOL_MAX": "4",
    }
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = connect(settings)
    await db.open()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        async with FakeUpstream(default=messages_sse_reply(deltas=5, event_delay=0.01)) as up:
            await migrate(db)
            async with db.transaction() as tx:
                row = ChannelsRow(
                    channel_id="c1",
                    channel_type="messages",
                    name="c1",
                    service_type="claude",
                    base_url=up.url,
                    api_keys=["sk-ant-crash-0001"],
                )
                await tx.channels.insert(row)
                await tx.settings.bump_revision()

            port = free_port()
            procs.append(serve(env, port))
            await until_healthy(port)
            sent: list[Sent] = []
            stop = asyncio.Event()
            clients = [asyncio.create_task(_client(port, i, stop, sent)) for i in range(CLIENTS)]
            await asyncio.sleep(LOAD_SECONDS)
            procs[0].send_signal(signal.SIGKILL)
            killed = time.monotonic()
            procs[0].wait(10)
            stop.set()
            await asyncio.gather(*clients)

            port = free_port()
            procs.append(serve(env, port))
            restarted = time.monotonic()
            await until_healthy(port)
            while True:
                rows = await _rows(db)
                pending = [r for rs in rows.values() for r in rs if r.status == "pending"]
                if not pending or time.monotonic() - restarted > SETTLE_WITHIN:
                    break
                await asyncio.sleep(0.2)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
        await db.close()
        if databases is not None and dsn is not None:
            await databases.drop(dsn)

    assert pending == [], f"still pending {SETTLE_WITHIN}s after the restart"
    answered = [s for s in sent if s.finished is not None]
    assert len(answered) > 20  # the load was real
    assert set(rows) <= {s.session for s in sent}
    for one in sent:
        mine = rows.get(one.session, [])
        assert len(mine) <= 1, one
        if one.finished is not None and one.finished < killed - WINDOW:
            assert len(mine) == 1, f"{one.session} answered but has no row"
            (row,) = mine
            assert (row.status, row.input_tokens, row.output_tokens) == ("completed", 2095, 187)
            assert (row.price or 0) > 0
        elif mine:  # cut by the kill, or answered just before it
            assert mine[0].status in ("completed", "interrupted"), one
    interrupted = [r for rs in rows.values() for r in rs if r.status == "interrupted"]
    assert all(r.error and "died" in r.error for r in interrupted)
