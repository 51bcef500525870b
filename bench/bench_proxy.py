"""ccbridge vs a minimal pass-through proxy, side by side, in one run.

The floor is a Falcon app on uvicorn forwarding POST /v1/messages with the
same aiohttp client and nothing else (no auth, routing, logging). Against a
fake upstream on loopback (bench/fast_upstream.py: the test double's replies
at a fraction of its CPU) answering a 599-byte Messages JSON (or a 50-event
SSE stream) it measures, in interleaved rounds (each ratio is the median of
its per-round ratios, the table shows each cell's best round):

  (a) throughput at 32 connections, logging on: ccbridge / floor (>= 0.80)
  (b) added p50 latency at 1 connection over calling the upstream directly
  (c) logging on vs off: throughput cost (<= 8 %)
  (d) 50-event streams: completed streams/s, added time to first byte
  (e) --workers 2 vs 1: throughput ratio (>= 1.7), beside the floor's own
      2 processes vs 1 on one port (what this machine and harness allow)

The proxy under test is pinned to core 0, load generator and upstream to
core 1 (for (e) the proxy has both cores). ccbridge runs on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
from bench_upstream_client import CLIENT_HEADERS, REQUEST_BODY  # noqa: E402
from harness import (  # noqa: E402
    Children,
    cpu_plan,
    cpu_seconds,
    free_port,
    load,
    read_ready,
    wait_healthy,
    wait_listening,
)

from ccbridge.db.migrate import migrate  # noqa: E402
from ccbridge.db.sqlite import SqliteDatabase  # noqa: E402
from ccbridge.store.snapshot import DEFAULT_RATELIMIT, RATELIMIT_SETTING  # noqa: E402
from generated.rows import ChannelsRow, SettingsRow  # noqa: E402

MASTER = "bench-master-key-0123456789"
STREAM_BODY = REQUEST_BODY.replace('"max_tokens"', '"stream":true,"max_tokens"')
HEADERS = {**CLIENT_HEADERS, "x-api-key": MASTER}


ENDPOINTS = {"messages": "/v1/messages", "chat": "/v1/chat/completions"}


async def prepare(
    db_path: Path, upstream: str, service_type: str = "claude", pool: str = "messages"
) -> None:
    """Create a migrated ccbridge database with one channel of ``pool`` to upstream.

    Its ``ratelimit`` setting allows 1,000,000 /v1 requests per minute.
    """
    async with SqliteDatabase(db_path) as db:
        await migrate(db)
        async with db.transaction() as tx:
            await tx.channels.insert(
                ChannelsRow(
                    channel_id="bench001",
                    channel_type=pool,
                    name="bench",
                    service_type=service_type,
                    base_url=upstream,
                    api_keys=["sk-ant-api03-bench-not-a-real-key"],
                )
            )
            # The /v1 limit at the admin API's maximum: its cost is measured,
            # but it never refuses a request of the load.
            limits = {**DEFAULT_RATELIMIT, "api": {"enabled": True, "requestsPerMinute": 1_000_000}}
            await tx.settings.upsert(
                SettingsRow(key=RATELIMIT_SETTING, value=json.dumps(limits), category="config")
            )
            await tx.settings.bump_revision()


class Bench:
    """Processes and measurements of one run."""

    def __init__(self, args: argparse.Namespace, folder: Path) -> None:
        self.args = args
        self.folder = folder
        self.children = Children()
        self.proxy_cpus, self.side_cpus = cpu_plan()
        self.results: dict[str, list[dict[str, Any]]] = {}

    def upstream(self, mode: str) -> str:
        args = ["bench/fast_upstream.py", "--mode", mode, "--deltas", "44", "--max-seconds", "900"]
        return read_ready(self.children.spawn(args, self.side_cpus), timeout=15)

    def start_ccbridge(
        self,
        upstream: str,
        name: str,
        *,
        logs: bool = True,
        workers: int = 1,
        service_type: str = "claude",
        pool: str = "messages",
    ) -> tuple[Any, str]:
        db_path = self.folder / name / "cc-bridge.db"
        if not db_path.exists():
            asyncio.run(prepare(db_path, upstream, service_type, pool))
        port = free_port()
        env = {
            "PROXY_ACCESS_KEY": MASTER,
            "DATABASE_URL": str(db_path),
            "CCBRIDGE_DATA_DIR": str(db_path.parent),
            "REQUEST_LOGS": "true" if logs else "false",
        }
        cmd = [
            "-m",
            "ccbridge",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ]
        proc = self.children.spawn(cmd, self.proxy_cpus if workers == 1 else None, env)
        wait_healthy(port, proc, timeout=30)
        wait_listening(port, workers)  # else early connections all go to the first
        return proc, f"http://127.0.0.1:{port}{ENDPOINTS[pool]}"

    def start_floor(self, upstream: str) -> tuple[Any, str]:
        port = free_port()
        proc = self.children.spawn(_floor_cmd(upstream, port), self.proxy_cpus)
        wait_healthy(port, proc)
        return proc, f"http://127.0.0.1:{port}/v1/messages"

    def start_floor_workers(self, upstream: str, workers: int) -> tuple[list[Any], str]:
        """Start floor processes sharing one port, as `ccbridge serve --workers` does."""
        port = free_port()
        cmd = [*_floor_cmd(upstream, port), "--reuse-port"]
        procs = [self.children.spawn(cmd, None) for _ in range(workers)]
        for proc in procs:
            wait_healthy(port, proc)
        wait_listening(port, workers)
        return procs, f"http://127.0.0.1:{port}/v1/messages"

    def measure(
        self,
        label: str,
        url: str,
        conns: int,
        body: str = REQUEST_BODY,
        cpus: Any = "side",
        pid: int | None = None,
    ) -> None:
        side = self.side_cpus if cpus == "side" else cpus
        before = cpu_seconds(pid) if pid else None
        result = load(
            self.children,
            url,
            conns,
            duration=self.args.duration,
            warmup=self.args.warmup,
            body=body,
            headers=HEADERS,
            cpus=side,
        )
        if result["errors"] or result["non_2xx"]:
            raise RuntimeError(f"{label}: {result['errors']} errors, {result['non_2xx']} non-2xx")
        if before is not None:
            # CPU per request of the proxy resists noise from other processes.
            handled = result["requests"] + result["warmup_requests"]
            result["cpu_us"] = ((cpu_seconds(pid) or 0) - before) / max(handled, 1) * 1e6
        self.results.setdefault(label, []).append(result)

    def paired(self, top: str, bottom: str, key: str = "rps") -> list[float]:
        """Return top / bottom for each round: the two cells ran seconds apart."""
        pairs = zip(self.results[top], self.results[bottom], strict=True)
        return [t[key] / b[key] for t, b in pairs]

    def best(self, label: str, key: str = "rps") -> float:
        values = [r[key] for r in self.results[label] if key in r]
        if not values:
            return float("nan")
        return max(values) if key == "rps" else min(values)


async def _ttfb(url: str, body: str, n: int) -> float:
    """Return the median time to the first body byte, in ms."""
    samples = []
    async with aiohttp.ClientSession(headers=HEADERS) as session:
        for i in range(n + 20):
            start = time.perf_counter()
            async with session.post(url, data=body) as resp:
                await resp.content.readany()
                first = time.perf_counter() - start
                await resp.read()
            if i >= 20:  # warm-up
                samples.append(first * 1000)
    return statistics.median(samples)


def run(args: argparse.Namespace) -> None:
    """Run every measurement and print the report."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        bench = Bench(args, Path(folder))
        try:
            json_up = bench.upstream("messages-json")
            sse_up = bench.upstream("messages-sse")
            # All three up at once (an idle server costs next to nothing) and
            # measured back to back, in an order that turns each round, so the
            # two cells of a ratio are seconds apart and neither always goes first.
            servers = {
                "floor": bench.start_floor(json_up),
                "ccbridge": bench.start_ccbridge(json_up, "logs"),
                "ccbridge-nolog": bench.start_ccbridge(json_up, "nologs", logs=False),
            }
            names = list(servers)
            for turn in range(args.rounds):
                start = turn % len(names)
                for name in names[start:] + names[:start]:
                    proc, url = servers[name]
                    bench.measure(f"{name}@32", url, 32, pid=proc.pid)
                for name in ("floor", "ccbridge"):
                    proc, url = servers[name]
                    bench.measure(f"{name}@1", url, 1, pid=proc.pid)
                bench.measure("direct@1", json_up + "/v1/messages", 1, cpus=bench.proxy_cpus)
            for proc, _ in servers.values():
                bench.children.stop(proc)
            proc, url = bench.start_ccbridge(sse_up, "sse")
            bench.measure("stream@32", url, 32, STREAM_BODY, pid=proc.pid)
            proxied_ttfb = asyncio.run(_ttfb(url, STREAM_BODY, 300))
            direct_ttfb = asyncio.run(_ttfb(sse_up + "/v1/messages", STREAM_BODY, 300))
            bench.children.stop(proc)
            # All up at once (an idle server costs nothing), measured in turns;
            # the floor's own scaling shows what this machine and harness allow.
            scaled = {
                "workers1": bench.start_ccbridge(json_up, "workers1"),
                "workers2": bench.start_ccbridge(json_up, "workers2", workers=2),
                "floor-1proc": bench.start_floor(json_up),
            }
            floor_procs, floor_url = bench.start_floor_workers(json_up, 2)
            for _ in range(args.rounds):
                for name, (_, url) in [*scaled.items(), ("floor-2proc", (None, floor_url))]:
                    bench.measure(f"{name}@32", url, 32, cpus=None)
            for proc in [*(proc for proc, _ in scaled.values()), *floor_procs]:
                bench.children.stop(proc)
        finally:
            bench.children.stop_all()
    report(bench, proxied_ttfb, direct_ttfb, time.monotonic() - started)


def _floor_cmd(upstream: str, port: int) -> list[str]:
    return [
        "bench/bench_upstream_client.py",
        "serve",
        "--client",
        "aiohttp",
        "--upstream",
        upstream,
        "--port",
        str(port),
    ]


def report(bench: Bench, proxied_ttfb: float, direct_ttfb: float, wall: float) -> None:
    """Print the figures and ratios."""
    b = bench.best
    args = bench.args
    print(f"proxy bench: {args.duration:g} s per cell, {args.rounds} rounds (best shown), SQLite")
    for label in bench.results:
        cpu = b(label, "cpu_us")
        print(
            f"  {label:<20} {b(label):>9,.0f} req/s   p50 {b(label, 'p50_ms'):6.2f} ms   "
            f"proxy CPU {cpu:6.0f} us/req"
        )
    # Ratios pair the cells of one round, so a machine that speeds up or
    # slows down during the run moves both sides of each ratio alike.
    p = bench.paired
    a = _spread(p("ccbridge@32", "floor@32"))
    a_cpu = _spread(p("floor@32", "ccbridge@32", "cpu_us"))
    cost = _spread([1 - r for r in p("ccbridge@32", "ccbridge-nolog@32")], "%")
    cost_cpu = _spread([1 - r for r in p("ccbridge-nolog@32", "ccbridge@32", "cpu_us")], "%")
    e = _spread(p("workers2@32", "workers1@32"))
    e_floor = _spread(p("floor-2proc@32", "floor-1proc@32"))
    added = b("ccbridge@1", "p50_ms") - b("direct@1", "p50_ms")
    floor_added = b("floor@1", "p50_ms") - b("direct@1", "p50_ms")
    print(f"ratios: median of the {args.rounds} rounds [lowest, highest]")
    print(
        f"(a) throughput @32, logging on: ccbridge/floor = {a} by req/s, "
        f"{a_cpu} by CPU per request (target >= 0.80)"
    )
    print(
        f"(b) added p50 @1 over direct: ccbridge {added:.2f} ms, floor {floor_added:.2f} ms "
        "(target <= 0.5 ms)"
    )
    print(f"(c) logging cost: {cost} of throughput, {cost_cpu} of CPU per request (target <= 8 %)")
    print(
        f"(d) 50-event streams: {b('stream@32'):,.0f} streams/s @32 (target >= 1,200); "
        f"TTFB p50 {proxied_ttfb:.2f} ms vs direct {direct_ttfb:.2f} ms, "
        f"added {proxied_ttfb - direct_ttfb:.2f} ms (target <= 1 ms)"
    )
    print(
        f"(e) 2 workers / 1 worker @32 = {e} (target >= 1.7); "
        f"the floor, 2 processes / 1, in the same cells: {e_floor}"
    )
    print(f"total wall time {wall:.0f} s")


def _spread(ratios: list[float], unit: str = "") -> str:
    """Return the median and range of per-round ratios, e.g. ``0.57 [0.55, 0.60]``."""
    if unit == "%":
        return f"{statistics.median(ratios):.1%} [{min(ratios):.1%}, {max(ratios):.1%}]"
    return f"{statistics.median(ratios):.2f} [{min(ratios):.2f}, {max(ratios):.2f}]"


def main() -> None:
    """Parse options and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=2)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
