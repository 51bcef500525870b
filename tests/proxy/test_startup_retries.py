"""DATABASE_STARTUP_RETRIES: a PostgreSQL that becomes reachable late is waited for.

The gateway points at a loopback port nothing listens on yet; a second
later a TCP relay to the session's real PostgreSQL opens on that port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ccbridge.app import create_app
from ccbridge.errors import StorageError
from tests.proxy.conftest import settings_for

PASSWORD = "late-pw-0123456789"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def _relay_later(port: int, target: tuple[str, int], delay: float) -> asyncio.Server:
    """Open a TCP relay on ``port`` to ``target`` after ``delay`` seconds."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*target)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    await asyncio.sleep(delay)
    return await asyncio.start_server(handle, "127.0.0.1", port)


def _late_dsn(pg_dsn: str, port: int) -> str:
    return make_conninfo(pg_dsn, host="127.0.0.1", port=str(port), password=PASSWORD)


async def test_postgres_reachable_late_is_waited_for(
    pg_dsn: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    params = conninfo_to_dict(pg_dsn)
    target = (str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))
    port = _free_port()
    env = {"DATABASE_STARTUP_RETRIES": "40", "DATABASE_STARTUP_RETRY_DELAY_SECONDS": "0.25"}
    app = create_app(settings_for("postgres", tmp_path, _late_dsn(pg_dsn, port), **env))
    relay = asyncio.create_task(_relay_later(port, target, 1.0))
    caplog.set_level(logging.INFO, logger="ccbridge")
    await app.start()
    try:
        await app.db.ping()
        assert app.runtime is not None and app.runtime.snapshot.revision >= 0
    finally:
        await app.stop()
        server = await relay
        server.close()
    tries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("database:")]
    assert len(tries) >= 3, tries  # at least two failures (one second at 0.25 s) and the success
    assert tries[0].startswith("database: try 1 of 41 failed, next in 0.25s: ")
    assert "cannot connect to PostgreSQL" in tries[0]
    assert tries[-1] == f"database: reached on try {len(tries)} of 41"
    assert PASSWORD not in caplog.text


async def test_postgres_that_never_opens_fails_after_the_last_try(
    pg_dsn: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = {"DATABASE_STARTUP_RETRIES": "2", "DATABASE_STARTUP_RETRY_DELAY_SECONDS": "0.1"}
    app = create_app(settings_for("postgres", tmp_path, _late_dsn(pg_dsn, _free_port()), **env))
    with pytest.raises(StorageError):
        await app.start()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("database:")]
    assert [line.split(":")[1] for line in lines] == [
        " try 1 of 3 failed, next in 0.1s",
        " try 2 of 3 failed, next in 0.1s",
        " try 3 of 3 failed, giving up",
    ]
    assert PASSWORD not in caplog.text
