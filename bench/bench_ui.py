"""The web UI's API calls and first load, at 1,000,000 request_logs rows.

Targets: every call the dashboard makes <= 300 ms, and the whole dashboard
refresh (its calls in parallel, as the page sends them) <= 300 ms; the log
page's first rows (GET /api/logs?limit=50, what the page asks for, plain
and with each filter, including values no row has) and a row's detail with
its failover chain <= 200 ms; the first load of the UI (the page and every
file it loads, gzip as Chromium accepts it) <= 300 KB on the wire.

The rows, the load and the server are bench_log_stats.py's (synthetic
30 days, insert_many then a rollup rebuild, `ccbridge serve` in its own
process on its own core); six channels are added through the API so the
per-channel calls have something to read. The transfer size is measured
in real Chromium (Debian's /usr/bin/chromium) from the bytes each response
took on the wire (Playwright's request sizes).

Usage: python bench/bench_ui.py [--rows N] [--engine sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from bench_log_stats import KEY, ROWS, Probe, line, load, make_rows, serve  # noqa: E402
from harness import Children, cpu_plan  # noqa: E402
from playwright.async_api import async_playwright  # noqa: E402

from ccbridge.db.base import Database  # noqa: E402
from ccbridge.db.migrate import migrate  # noqa: E402
from ccbridge.db.postgres import PostgresDatabase  # noqa: E402
from ccbridge.db.sqlite import SqliteDatabase  # noqa: E402
from generated.rows import RequestLogsRow  # noqa: E402
from tests.pgserver import PgServer  # noqa: E402

DASHBOARD_TARGET_MS = 300
LOG_PAGE_TARGET_MS = 200
FIRST_LOAD_TARGET_KB = 300
ROUNDS = 11
CHAIN = 3  # consecutive rows share a request_id: each row's failover chain has three
CHROMIUM = os.environ.get("CCBRIDGE_TEST_CHROMIUM", "/usr/bin/chromium")


def dashboard_calls(period: str, now: datetime) -> list[tuple[str, dict[str, str]]]:
    """Return the GETs the dashboard sends for a period (pages/dashboard.js)."""
    seconds = {"hour": 3600, "day": 86_400 + 60, "week": 7 * 86_400}[period]
    start = (now - timedelta(seconds=seconds)).isoformat()
    history = {"duration": "1h"}
    if period != "hour":
        history = {"duration": "period", "from": start, "to": now.isoformat()}
    return [
        ("/api/logs/stats", {"from": start}),
        ("/api/logs/stats/history", history),
        ("/api/logs/sessions/active", {}),
        ("/api/dashboard/channels", {}),
        ("/api/logs/stats/channels", {"from": start}),
    ]


async def measure_dashboard(probe: Probe, http: httpx.AsyncClient) -> None:
    """Print each dashboard call, and each period's refresh as the page sends it."""
    now = datetime.now(UTC)
    for period in ("hour", "day", "week"):
        calls = dashboard_calls(period, now)
        for path, params in (*calls[:2], calls[4]):
            await probe.run(
                f"{period}: {path.removeprefix('/api/')}", path, DASHBOARD_TARGET_MS, **params
            )

        async def refresh(calls: list[tuple[str, dict[str, str]]] = calls) -> None:
            answers = await asyncio.gather(*(http.get(p, params=q) for p, q in calls))
            assert all(a.status_code == 200 for a in answers)

        await refresh()
        times = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            await refresh()
            times.append((time.perf_counter() - started) * 1000)
        line(f"{period}: whole refresh ({len(calls)} calls)", times, DASHBOARD_TARGET_MS)
    await probe.run("sessions/active", "/api/logs/sessions/active", DASHBOARD_TARGET_MS)
    await probe.run("dashboard/channels", "/api/dashboard/channels", DASHBOARD_TARGET_MS)


# The log page's filters: (label, query). Statuses: 200 and 529 are stored, 500 and 418 not;
# key 999999 and client "nobody" have no row. The ones no row matches once scanned the table.
def log_filters(sample: RequestLogsRow) -> list[tuple[str, dict[str, str]]]:
    """Return the filtered first pages to time, for a row in the middle of the table."""
    key = str(sample.api_key_id)
    return [
        ("model filter", {"model": sample.model}),
        ("HTTP status 200 (most rows)", {"httpStatus": "200"}),
        ("HTTP status 529 (errors)", {"httpStatus": "529"}),
        ("HTTP status 500 (no row)", {"httpStatus": "500"}),
        ("clientId filter", {"clientId": sample.client_id or ""}),
        ("clientId no row has", {"clientId": "nobody"}),
        ("apiKeyId filter", {"apiKeyId": key}),
        ("apiKeyId no row has", {"apiKeyId": "999999"}),
        ("apiKeyId + HTTP status 529", {"apiKeyId": key, "httpStatus": "529"}),
        ("status 418 + model (no row)", {"httpStatus": "418", "model": sample.model}),
    ]


async def measure_log_page(probe: Probe, rows: list[RequestLogsRow]) -> None:
    """Print the log page's first rows, plain and filtered, and a row's detail."""
    sample = rows[len(rows) // 2]
    await probe.run("logs: first 50 rows", "/api/logs", LOG_PAGE_TARGET_MS, limit=50)
    for label, params in log_filters(sample):
        await probe.run(
            f"logs: first 50, {label}", "/api/logs", LOG_PAGE_TARGET_MS, limit=50, **params
        )
    await probe.run(
        f"logs: a row's detail (chain of {CHAIN})", f"/api/logs/{sample.id}", LOG_PAGE_TARGET_MS
    )


async def measure_first_load(url: str) -> None:
    """Print the bytes Chromium transfers to show the sign-in page."""
    sizes: dict[str, int] = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await browser.new_page()

        async def done(request: Any) -> None:
            s = await request.sizes()
            sizes[request.url] = s["responseBodySize"] + s["responseHeadersSize"]

        page.on("requestfinished", lambda r: asyncio.ensure_future(done(r)))
        await page.goto(url + "/", wait_until="networkidle")
        await page.get_by_label("Admin key").wait_for()
        await asyncio.sleep(0.2)
        await browser.close()
    total = sum(sizes.values()) / 1024
    verdict = "ok" if total <= FIRST_LOAD_TARGET_KB else f"OVER {FIRST_LOAD_TARGET_KB} KB"
    print(f"  first load: {len(sizes)} responses, {total:.1f} KB on the wire  {verdict}")
    for name, size in sorted(sizes.items(), key=lambda kv: -kv[1])[:5]:
        print(f"    {size / 1024:7.1f} KB  {name.split('/', 5)[-1]}")


async def add_channels(http: httpx.AsyncClient) -> None:
    """Create six channels so the per-channel calls have rows to read."""
    for i in range(6):
        pool = "/api/channels" if i < 4 else "/api/responses/channels"
        resp = await http.post(
            pool,
            json={
                "id": f"c0ffee{i:02d}",
                "name": f"chan-{i}",
                "serviceType": "claude" if i < 4 else "responses",
                "baseUrl": "http://127.0.0.1:9",
                "apiKeys": [f"sk-bench-{i:02d}-0123456789"],
            },
        )
        assert resp.status_code == 200, resp.text


async def run(engine: str, rows: list[RequestLogsRow], target: str) -> None:
    """Load one engine, start a gateway on it and measure."""
    db: Database = SqliteDatabase(target) if engine == "sqlite" else PostgresDatabase(target)
    async with db:
        await migrate(db)
        inserted, rebuilt = await load(db, rows)
    print(f"{engine}: {len(rows):,} rows inserted in {inserted:.1f} s, rollups in {rebuilt:.1f} s")
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
            await add_channels(http)
            probe = Probe(http)
            await measure_dashboard(probe, http)
            await measure_log_page(probe, rows)
        await measure_first_load(url)
    finally:
        children.stop_all()


async def main() -> None:
    """Run the selected engines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--engine", choices=("sqlite", "postgres"), action="append")
    args = parser.parse_args()
    # The newest rows end a few minutes ago, so "last hour" has traffic.
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=7)
    started = time.perf_counter()
    rows = make_rows(args.rows, end)
    for i, row in enumerate(rows):
        row.request_id = f"rq-{i // CHAIN:08d}"
    gc.collect()
    gc.freeze()  # PERF(bench): the rows held for loading are not the server's
    print(f"{len(rows):,} synthetic rows made in {time.perf_counter() - started:.1f} s")
    for engine in args.engine or ("sqlite", "postgres"):
        if engine == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                await run(engine, rows, str(Path(folder) / "cc-bridge.db"))
            continue
        dsn = os.environ.get("CCBRIDGE_TEST_PG_DSN")
        server = PgServer.external(dsn) if dsn else PgServer.start()
        target = server.create_database()
        try:
            await run(engine, rows, target)
        finally:
            server.drop_database(target)
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
