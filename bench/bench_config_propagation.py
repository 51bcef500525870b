"""How fast a config change made on instance A is seen by instance B.

Two `ccbridge serve` processes share one database. The script writes a
model price through A's admin API (~30 times, at random spacing) and, from
the moment A answers, polls B's GET /health until B reports A's new config
revision. It prints the median and max per engine, side by side:

  PostgreSQL: B reloads on NOTIFY (its poll interval is set to 60 s, so only
              NOTIFY can be fast).
  SQLite:     B polls the revision every CONFIG_POLL_INTERVAL = 1 s.

PostgreSQL comes from CCBRIDGE_BENCH_PG_DSN or CCBRIDGE_TEST_PG_DSN (a role
that may CREATE DATABASE), else a throwaway server (tests/pgserver.py).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import Children, free_port, wait_healthy  # noqa: E402

from tests.pgserver import PgServer, PgUnavailable  # noqa: E402

MASTER = "bench-master-key-0123456789"
POLL_SECONDS = 0.002


class Instance:
    """One ccbridge process and a keep-alive connection to it."""

    def __init__(self, children: Children, env: dict[str, str]) -> None:
        self.port = free_port()
        cmd = ["-m", "ccbridge", "serve", "--port", str(self.port), "--log-level", "warning"]
        self.proc = children.spawn(cmd, None, {"PROXY_ACCESS_KEY": MASTER, **env})
        wait_healthy(self.port, self.proc, timeout=60)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, dict, Any]:
        """Send one request; return status, headers and JSON body."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"x-api-key": MASTER, "content-type": "application/json"}
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        payload = resp.read()
        headers_out = {k.lower(): v for k, v in resp.getheaders()}
        return resp.status, headers_out, json.loads(payload) if payload else None

    def revision(self) -> int:
        """Return the config revision this instance serves from."""
        return int(self.call("GET", "/health")[2]["configRevision"])


def measure(a: Instance, b: Instance, changes: int, rng: random.Random) -> dict[str, Any]:
    """Make `changes` writes on A; return write and propagation times (ms)."""
    status, _, _ = a.call("PUT", "/api/ratelimit", {"portal": {"enabled": False}})
    assert status == 200, status
    seen, writes = [], []
    for i in range(changes):
        time.sleep(rng.uniform(0.05, 1.05))  # a random phase against B's 1 s poll
        started = time.perf_counter()
        price = {"model": f"bench-model-{i}", "inputPrice": 1 + i, "outputPrice": 2 + i}
        status, headers, _ = a.call("PUT", "/api/pricing/models", price)
        committed = time.perf_counter()
        assert status == 200, status
        revision = int(headers["etag"].strip('"'))
        while b.revision() < revision:
            time.sleep(POLL_SECONDS)
            if time.perf_counter() - committed > 30:
                raise RuntimeError("B never saw the change")
        seen.append((time.perf_counter() - committed) * 1000)
        writes.append((committed - started) * 1000)
    return {
        "median_ms": statistics.median(seen),
        "max_ms": max(seen),
        "write_median_ms": statistics.median(writes),
    }


def run_engine(name: str, env: dict[str, str], changes: int) -> dict[str, Any]:
    """Start A and B on one database, measure, stop them."""
    children = Children()
    try:
        a = Instance(children, env)
        b = Instance(children, env)
        return measure(a, b, changes, random.Random(7))
    finally:
        children.stop_all()


def _pg_server() -> PgServer:
    dsn = os.environ.get("CCBRIDGE_BENCH_PG_DSN") or os.environ.get("CCBRIDGE_TEST_PG_DSN")
    return PgServer.external(dsn) if dsn else PgServer.start()


def main(argv: list[str] | None = None) -> int:
    """Run both engines and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=30)
    args = parser.parse_args(argv)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="ccbridge-bench-") as folder:
        sqlite_env = {
            "DATABASE_URL": str(Path(folder) / "cc-bridge.db"),
            "CCBRIDGE_DATA_DIR": folder,
            "CONFIG_POLL_INTERVAL": "1",
        }
        results["sqlite (poll 1 s)"] = run_engine("sqlite", sqlite_env, args.changes)
        try:
            server = _pg_server()
        except PgUnavailable as ex:
            print(f"PostgreSQL skipped: {ex}")
        else:
            dsn = server.create_database()
            pg_env = {
                "DATABASE_TYPE": "postgresql",
                "DATABASE_URL": dsn,
                "CCBRIDGE_DATA_DIR": folder,
                "CONFIG_POLL_INTERVAL": "60",
                "DB_POOL_MIN": "1",
                "DB_POOL_MAX": "4",
            }
            try:
                results["postgres (NOTIFY)"] = run_engine("postgres", pg_env, args.changes)
            finally:
                server.drop_database(dsn)
                server.stop()
    print(f"config change on A -> visible on B, {args.changes} changes each:")
    for name, r in results.items():
        print(
            f"  {name:20} median {r['median_ms']:8.1f} ms   max {r['max_ms']:8.1f} ms"
            f"   (write on A: median {r['write_median_ms']:.1f} ms)"
        )
    if len(results) == 2:
        sqlite, pg = results.values()
        print(f"  ratio sqlite/postgres median: {sqlite['median_ms'] / pg['median_ms']:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
