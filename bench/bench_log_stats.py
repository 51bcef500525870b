"""Log stats and log-list pages over 1,000,000 request_logs rows, both engines.

Targets: GET /api/logs/stats for a 30-day window <= 300 ms; any page of
GET /api/logs (first, middle by cursor, deep by cursor) <= 50 ms.

The rows are synthetic but shaped like real use: 30 days, 40 clients
(each with its own api key), ~150 Claude Code / Codex sessions a day
(1-4 h each, one main model plus a haiku side model for a quarter of the
requests). Channels are picked as the scheduler does: by priority within
the model's pool (the first channel for 80 % of sessions, the second for
the rest), 5 % of requests on the next channel (failover); ~90 %
completed, the rest error/failover/timeout/retry_wait. They are
loaded with insert_many (COPY on PostgreSQL), then the rollups are built
with `rollupdb.rebuild` (what an import runs). Every figure is measured
over HTTP against `ccbridge serve` in its own process (pinned to one core,
this client to the other): best, median and worst of ROUNDS after one
warm-up, until the whole JSON body is in; the verdict uses the median.
PostgreSQL runs ANALYZE after the bulk load (autovacuum would, later).

PostgreSQL comes from CCBRIDGE_TEST_PG_DSN or a throwaway server.
Usage: python bench/bench_log_stats.py [--rows N] [--engine sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from harness import Children, cpu_plan, free_port, wait_healthy  # noqa: E402

from ccbridge.admin.logquery import encode_cursor  # noqa: E402
from ccbridge.db.base import Database  # noqa: E402
from ccbridge.db.migrate import migrate  # noqa: E402
from ccbridge.db.postgres import PostgresDatabase  # noqa: E402
from ccbridge.db.sqlite import SqliteDatabase  # noqa: E402
from ccbridge.store import rollupdb  # noqa: E402
from generated.rows import RequestLogsRow, SettingsRow  # noqa: E402
from tests.pgserver import PgServer  # noqa: E402

ROWS = 1_000_000
DAYS = 30
ROUNDS = 11
STATS_TARGET_MS = 300
PAGE_TARGET_MS = 50
KEY = "bench-master-key-0123456789"
_CHUNK = 50_000
_STATUSES = (("completed", 90), ("error", 5), ("failover", 3), ("timeout", 1), ("retry_wait", 1))
_CHANNELS = [(f"chan-{i}", f"c0ffee{i:02d}", "claude" if i < 4 else "openai") for i in range(6)]
_MODELS = ["claude-sonnet-4-5", "claude-opus-4-1", "claude-sonnet-4", "gpt-5-codex", "gpt-5"]
_SIDE_MODEL = "claude-haiku-4-5"


class Session:
    """One synthetic coding session."""

    def __init__(self, rnd: random.Random, start: datetime, n: int) -> None:
        self.id = f"sess-{n:06d}-{rnd.getrandbits(32):08x}"
        self.client = f"client-{rnd.randrange(40):02d}"
        self.key = int(self.client[-2:]) % 13  # 0 = master key
        self.model = rnd.choice(_MODELS)
        codex = self.model.startswith("gpt")
        self.endpoint = "/v1/responses" if codex else "/v1/messages"
        self.pool = (4, 5) if codex else (0, 1, 2, 3)  # channel indexes by priority
        self.home = 0 if rnd.random() < 0.8 else 1  # position in the pool
        self.start = start
        self.length = rnd.uniform(3600, 4 * 3600)


def _sessions(rnd: random.Random, first: datetime) -> list[Session]:
    out = []
    for day in range(DAYS):
        for _ in range(150):
            start = first + timedelta(days=day, seconds=rnd.uniform(0, 86400))
            out.append(Session(rnd, start, len(out)))
    return out


def _row(rnd: random.Random, s: Session, n: int, end: datetime) -> RequestLogsRow:
    at = min(s.start + timedelta(seconds=rnd.uniform(0, s.length)), end - timedelta(seconds=1))
    status = rnd.choices([k for k, _ in _STATUSES], [w for _, w in _STATUSES])[0]
    place = s.home if rnd.random() < 0.95 else (s.home + 1) % len(s.pool)
    name, uid, provider = _CHANNELS[s.pool[place]]
    duration = int(rnd.lognormvariate(8.6, 0.8)) if status != "timeout" else 300_000
    inp, out = rnd.randint(200, 9000), rnd.randint(20, 2000)
    return RequestLogsRow(
        id=f"req_{int(at.timestamp() * 1e9)}{n % 65536:04x}",
        initial_time=at,
        provider=provider,
        model=_SIDE_MODEL if rnd.random() < 0.25 else s.model,
        status=status,
        complete_time=at + timedelta(milliseconds=duration),
        duration_ms=duration,
        provider_name=name,
        input_tokens=inp,
        output_tokens=out,
        cache_read_input_tokens=rnd.randint(0, 60000),
        cache_creation_input_tokens=rnd.randint(0, 4000),
        total_tokens=inp + out,
        price=round((inp * 3 + out * 15) / 1e6, 6),
        http_status=200 if status == "completed" else 529,
        stream=True,
        transport="sse",
        channel_id=_CHANNELS.index((name, uid, provider)),
        channel_name=name,
        channel_uid=uid,
        endpoint=s.endpoint,
        client_id=s.client,
        session_id=s.id,
        api_key_id=s.key,
        created_at=at,
    )


def make_rows(n: int, end: datetime, seed: int = 1) -> list[RequestLogsRow]:
    """Return n rows over the DAYS before end, oldest first."""
    rnd = random.Random(seed)
    sessions = _sessions(rnd, end - timedelta(days=DAYS))
    rows = [_row(rnd, sessions[i % len(sessions)], i, end) for i in range(n)]
    rows.sort(key=lambda r: (r.initial_time, r.id))
    return rows


async def load(db: Database, rows: list[RequestLogsRow]) -> tuple[float, float]:
    """Insert rows and rebuild the rollups; return (insert s, rebuild s)."""
    started = time.perf_counter()
    for i in range(0, len(rows), _CHUNK):
        async with db.transaction() as tx:
            await tx.request_logs.insert_many(rows[i : i + _CHUNK])
    inserted = time.perf_counter()
    await rollupdb.rebuild(db)
    async with db.transaction() as tx:  # the /api rate limit would throttle the bench
        await tx.settings.upsert(
            SettingsRow(key="ratelimit", value=json.dumps({"portal": {"enabled": False}}))
        )
        await tx.settings.bump_revision()
    return inserted - started, time.perf_counter() - inserted


def serve(children: Children, env: dict[str, str], cpus: set[int] | None) -> str:
    """Start `ccbridge serve` in its own process (pinned to cpus); return its URL."""
    port = free_port()
    cmd = ["-m", "ccbridge", "serve", "--port", str(port), "--log-level", "warning"]
    proc = children.spawn(cmd, cpus, env)
    wait_healthy(port, proc, timeout=120)
    return f"http://127.0.0.1:{port}"


async def timed(call: Callable[[], Awaitable[httpx.Response]]) -> tuple[list[float], Any]:
    """Return the ms of ROUNDS calls after a warm-up, and the last JSON body.

    The clock stops when the whole body is in; parsing it is not timed.
    """
    await call()
    times, resp = [], None
    for _ in range(ROUNDS):
        started = time.perf_counter()
        resp = await call()
        times.append((time.perf_counter() - started) * 1000)
        assert resp.status_code == 200, resp.text
    assert resp is not None
    return times, resp.json()


def line(label: str, times: list[float], target: float | None = None) -> None:
    """Print one figure: best, median and worst of the rounds."""
    best, median, worst = min(times), statistics.median(times), max(times)
    verdict = "" if target is None else ("  ok" if median <= target else f"  OVER {target:.0f} ms")
    print(f"  {label:<42} best {best:7.1f}  median {median:7.1f}  worst {worst:7.1f} ms{verdict}")


def note(label: str, ms: float) -> None:
    """Print a one-off figure, for contrast."""
    print(f"  {label:<44} {ms:8.1f} ms (once)")


class Probe:
    """Timed GETs against one gateway."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def run(self, label: str, path: str, target: float | None, **params: Any) -> Any:
        """Print the median and worst time of a GET; return its last body."""
        times, body = await timed(lambda: self.http.get(path, params=params))
        line(label, times, target)
        return body

    async def once(self, label: str, path: str, **params: Any) -> Any:
        """Time one GET (no warm-up); return its body."""
        started = time.perf_counter()
        resp = await self.http.get(path, params=params)
        note(label, (time.perf_counter() - started) * 1000)
        assert resp.status_code == 200, resp.text
        return resp.json()


async def measure_stats(probe: Probe, rows: list[RequestLogsRow], end: datetime) -> None:
    """Print the stats timings."""
    window = {"from": (end - timedelta(days=30)).isoformat(), "to": end.isoformat()}
    sample = rows[len(rows) // 3]
    stats = await probe.run("stats, 30-day window", "/api/logs/stats", STATS_TARGET_MS, **window)
    print(
        f"    ({stats['totalRequests']:,} finished requests, {len(stats['bySession']):,} "
        f"sessions, p95 {stats['p95LatencyMs']} ms)"
    )
    for label, extra in (
        ("stats, 30 days, clientId", {"clientId": sample.client_id}),
        ("stats, 30 days, sessionId", {"sessionId": sample.session_id}),
        ("stats, 30 days, endpoint", {"endpoint": "/v1/responses"}),
    ):
        await probe.run(label, "/api/logs/stats", STATS_TARGET_MS, **window, **extra)
    await probe.run("stats, all time (no from/to)", "/api/logs/stats", STATS_TARGET_MS)
    await probe.run("stats/daily, 30 days", "/api/logs/stats/daily", None, **window)
    history = "/api/logs/stats/history"
    await probe.run(
        "stats/history, 30 days (4 h buckets)", history, None, duration="period", **window
    )
    await probe.run("stats/history, 24h (15 min buckets, raw)", history, None, duration="24h")
    raw = await probe.once(
        "(same 30-day stats from raw rows)", "/api/logs/stats", **window, source="raw"
    )
    same = _summary(raw) == _summary(stats)
    print(f"    rollup-backed stats equal the raw recomputation: {'yes' if same else 'NO'}")


def _summary(stats: dict[str, Any]) -> Any:
    """Return the numbers two stats bodies must share (floats rounded)."""
    groups = {name: (g["count"], round(g["cost"], 6)) for name, g in stats["byModel"].items()}
    return stats["totalRequests"], stats["totalTokens"], stats["p95LatencyMs"], groups


async def measure_pages(probe: Probe, rows: list[RequestLogsRow]) -> None:
    """Print the log-list page timings."""
    middle, deep = rows[len(rows) // 2], rows[150]
    await probe.run("list page, first", "/api/logs", PAGE_TARGET_MS, limit=100)
    for label, row in (("middle", middle), ("deep", deep)):
        cursor = encode_cursor(row.initial_time, row.id)
        body = await probe.run(
            f"list page, {label} (cursor)", "/api/logs", PAGE_TARGET_MS, limit=100, cursor=cursor
        )
        assert len(body["requests"]) == 100
    cursor = encode_cursor(middle.initial_time, middle.id)
    await probe.run(
        "list page, middle, model filter",
        "/api/logs",
        PAGE_TARGET_MS,
        limit=100,
        model=_SIDE_MODEL,
        cursor=cursor,
    )
    await probe.run(
        "list page, sessionId filter",
        "/api/logs",
        PAGE_TARGET_MS,
        limit=100,
        sessionId=middle.session_id,
    )
    await probe.once("(legacy offset = N/2)", "/api/logs", limit=100, offset=len(rows) // 2)


async def run(engine: str, rows: list[RequestLogsRow], end: datetime, target: str) -> None:
    """Load one engine, start a gateway on it and measure."""
    db: Database = SqliteDatabase(target) if engine == "sqlite" else PostgresDatabase(target)
    async with db:
        await migrate(db)
        inserted, rebuilt = await load(db, rows)
    print(f"{engine}: {len(rows):,} rows inserted in {inserted:.1f} s, ", end="")
    print(f"rollups rebuilt from them in {rebuilt:.1f} s")
    env = {
        "PROXY_ACCESS_KEY": KEY,
        "DATABASE_URL": target,
        "CCBRIDGE_DATA_DIR": tempfile.gettempdir(),
    }
    if engine == "postgres":
        env["DATABASE_TYPE"] = "postgresql"
        async with await psycopg.AsyncConnection.connect(target, autocommit=True) as conn:
            await conn.execute("ANALYZE")
    server_cpus, client_cpus = cpu_plan()
    children = Children()
    try:
        url = serve(children, env, server_cpus)
        if client_cpus:
            os.sched_setaffinity(0, client_cpus)
        async with httpx.AsyncClient(base_url=url, headers={"x-api-key": KEY}, timeout=600) as http:
            await measure_stats(Probe(http), rows, end)
            await measure_pages(Probe(http), rows)
    finally:
        children.stop_all()


async def main() -> None:
    """Run the selected engines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--engine", choices=("sqlite", "postgres"), action="append")
    args = parser.parse_args()
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=7)
    started = time.perf_counter()
    rows = make_rows(args.rows, end)
    # PERF(bench): the gateway runs in this process; keep the garbage collector from
    # walking the million rows held here for loading (a server does not hold them).
    gc.collect()
    gc.freeze()
    took = time.perf_counter() - started
    print(f"{len(rows):,} synthetic rows over {DAYS} days made in {took:.1f} s")
    for engine in args.engine or ("sqlite", "postgres"):
        if engine == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                await run(engine, rows, end, str(Path(folder) / "cc-bridge.db"))
            continue
        dsn = os.environ.get("CCBRIDGE_TEST_PG_DSN")
        server = PgServer.external(dsn) if dsn else PgServer.start()
        target = server.create_database()
        try:
            await run(engine, rows, end, target)
        finally:
            server.drop_database(target)
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
