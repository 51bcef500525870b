"""Start, stop and health of a real `ccbridge serve` (issue 17).

A start that cannot succeed exits at once with one line; SIGTERM ends live
log streams, lets proxied requests finish, drains the writer and exits; a
first start without PROXY_ACCESS_KEY makes a master key and keeps it.
"""

from __future__ import annotations

import asyncio
import resource
import signal
import sqlite3
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from ccbridge.db.base import connect
from ccbridge.db.migrate import migrate
from generated.rows import ChannelsRow
from tests.fakes.upstream import FakeUpstream, messages_sse_reply
from tests.proxy.childserver import free_port, serve, until_healthy
from tests.proxy.conftest import MASTER_KEY, Running, settings_for

PROMPT = [{"role": "user", "content": "hi"}]


def _sqlite_env(data: Path, **extra: str) -> dict[str, str]:
    return {
        "CCBRIDGE_DATA_DIR": str(data),
        "DATABASE_TYPE": "sqlite",
        "DATABASE_URL": str(data / "cc-bridge.db"),
        **extra,
    }


async def _newer_database(data: Path) -> None:
    settings = settings_for("sqlite", data.parent, None)
    data.mkdir(parents=True, exist_ok=True)
    async with connect(settings) as db:
        await migrate(db)
    with sqlite3.connect(data / "cc-bridge.db") as conn:
        conn.execute(
            "INSERT INTO schema_migrations VALUES (9999, 'future', 'x', '2030-01-01T00:00:00Z')"
        )


@pytest.mark.parametrize("case", ["corrupt-config", "unreachable-database", "bad-migration"])
async def test_a_failed_start_exits_at_once_with_one_line(tmp_path: Path, case: str) -> None:
    data = tmp_path / "data"
    env = _sqlite_env(data, PROXY_ACCESS_KEY=MASTER_KEY)
    if case == "corrupt-config":
        data.mkdir()
        (data / "config.json").write_text('{"channels": [')
    elif case == "unreachable-database":
        url = f"postgresql://ccbridge@127.0.0.1:{free_port()}/ccbridge"
        # Retries off: the start fails on the first try (test_startup_retries.py retries).
        env |= {"DATABASE_TYPE": "postgresql", "DATABASE_URL": url, "DATABASE_STARTUP_RETRIES": "0"}
    else:
        await _newer_database(data)
    err = tmp_path / "stderr"
    with err.open("wb") as out:
        started = time.monotonic()
        proc = serve(env, free_port(), stderr=out.fileno())
        try:
            code = await asyncio.to_thread(proc.wait, 5)
        finally:
            if proc.poll() is None:
                proc.kill()
    took = time.monotonic() - started

    lines = [line for line in err.read_text().splitlines() if line.strip()]
    assert code != 0
    assert took < 5
    assert len(lines) == 1, lines
    assert lines[0].startswith("ccbridge: cannot start: ")


async def _prepare(engine: str, tmp_path: Path, dsn: str | None, upstream: str) -> dict[str, str]:
    settings = settings_for(engine, tmp_path, dsn)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with connect(settings) as db:
        await migrate(db)
        async with db.transaction() as tx:
            row = ChannelsRow(
                channel_id="c1",
                channel_type="messages",
                name="c1",
                service_type="claude",
                base_url=upstream,
                api_keys=["sk-ant-stop-0001"],
            )
            await tx.channels.insert(row)
            await tx.settings.bump_revision()
    return {
        "PROXY_ACCESS_KEY": MASTER_KEY,
        "CCBRIDGE_DATA_DIR": str(settings.data_dir),
        "DATABASE_TYPE": "postgresql" if engine == "postgres" else "sqlite",
        "DATABASE_URL": str(dsn if dsn is not None else settings.sqlite_path),
        "DB_POOL_MIN": "1",
        "DB_POOL_MAX": "4",
        "SHUTDOWN_GRACE_PERIOD": "10",
    }


async def _read_all(http: httpx.AsyncClient, method: str, url: str, **kw: Any) -> bytes:
    async with http.stream(method, url, **kw) as resp:
        return b"".join([chunk async for chunk in resp.aiter_bytes()])


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
async def test_sigterm_ends_log_streams_lets_requests_finish_and_drains(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    databases = request.getfixturevalue("_databases") if engine == "postgres" else None
    dsn = await databases.take() if databases is not None else None
    reply = messages_sse_reply(deltas=8, event_delay=0.2)  # about 2 s
    try:
        async with FakeUpstream(default=reply) as up:
            env = await _prepare(engine, tmp_path, dsn, up.url)
            port = free_port()
            proc = serve(env, port)
            try:
                await until_healthy(port)
                base = f"http://127.0.0.1:{port}"
                auth = {"x-api-key": MASTER_KEY}
                async with httpx.AsyncClient(timeout=30) as http:
                    logs = asyncio.create_task(
                        _read_all(http, "GET", f"{base}/api/logs/stream", headers=auth)
                    )
                    body = {"model": "claude-haiku-4-5", "max_tokens": 8, "messages": PROMPT}
                    proxied = asyncio.create_task(
                        _read_all(
                            http,
                            "POST",
                            f"{base}/v1/messages",
                            json={**body, "stream": True},
                            headers=auth,
                        )
                    )
                    await asyncio.sleep(0.7)  # the stream is under way
                    proc.send_signal(signal.SIGTERM)
                    signalled = time.monotonic()
                    await asyncio.wait_for(logs, 3)
                    ended_logs = time.monotonic() - signalled
                    await asyncio.sleep(0.3)
                    with pytest.raises(httpx.ConnectError):
                        await http.get(f"{base}/health")
                    answer = await asyncio.wait_for(proxied, 10)
                code = await asyncio.to_thread(proc.wait, 15)
                stopped = time.monotonic() - signalled
            finally:
                if proc.poll() is None:
                    proc.kill()
            async with connect(settings_for(engine, tmp_path, dsn)) as db:
                rows = await db.daos.request_logs.list()
    finally:
        if databases is not None and dsn is not None:
            await databases.drop(dsn)

    assert ended_logs < 2
    assert answer == reply.body_bytes  # the proxied stream finished in the grace period
    assert code == 0
    assert stopped < 8
    assert [(r.status, r.output_tokens) for r in rows] == [("completed", 187)]  # drained


async def test_health_answers_within_a_second_when_the_database_hangs(
    gateway: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def hang() -> None:
        await asyncio.sleep(30)

    monkeypatch.setattr(gateway.db, "ping", hang)
    async with httpx.AsyncClient(timeout=5) as http:
        started = time.monotonic()
        resp = await http.get(f"{gateway.url}/health")
        took = time.monotonic() - started

    assert took < 1
    assert resp.status_code == 503
    assert resp.json()["database"] == "unreachable: no answer within 0.8s"


async def _models(port: int, key: str) -> int:
    async with httpx.AsyncClient(timeout=5) as http:
        resp = await http.get(f"http://127.0.0.1:{port}/v1/models", headers={"x-api-key": key})
    return resp.status_code


async def _start(env: dict[str, str], err: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    with err.open("wb") as out:
        proc = serve(env, port, stderr=out.fileno())
    await until_healthy(port)
    return proc, port


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0


async def test_a_first_start_without_master_key_makes_one_and_keeps_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = _sqlite_env(data)
    proc, port = await _start(env, tmp_path / "first")
    try:
        said = (tmp_path / "first").read_text()
        (line,) = [x for x in said.splitlines() if "generated a master key" in x]
        key = line.rsplit(" ", 1)[1]
        kept = data / "master.key"
        assert f"kept in {kept}" in said
        assert kept.read_text().strip() == key and len(key) >= 40
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        assert await _models(port, key) == 200
        assert await _models(port, "sk-not-the-key-000000") == 401
    finally:
        _stop(proc)

    proc, port = await _start(env, tmp_path / "second")
    try:
        assert "generated" not in (tmp_path / "second").read_text()
        assert key not in (tmp_path / "second").read_text()
        assert await _models(port, key) == 200
    finally:
        _stop(proc)

    own = "operator-chosen-key-0123456789"
    proc, port = await _start({**env, "PROXY_ACCESS_KEY": own}, tmp_path / "third")
    try:
        assert await _models(port, own) == 200
        assert await _models(port, key) == 401
    finally:
        _stop(proc)


async def test_a_low_open_file_limit_is_raised_at_start(tmp_path: Path) -> None:
    def low_limit() -> None:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    port = free_port()
    env = _sqlite_env(tmp_path / "data", PROXY_ACCESS_KEY=MASTER_KEY)
    proc = serve(env, port, preexec_fn=low_limit)
    try:
        await until_healthy(port)
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
    finally:
        _stop(proc)

    (line,) = [x for x in limits.splitlines() if x.startswith("Max open files")]
    soft = int(line.split()[3])
    assert soft > 4096  # room for thousands of streams (two sockets each)
