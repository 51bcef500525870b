"""Closed-loop HTTP/1.1 load generator for loopback benchmarks.

N connections each send a request, wait for the whole response, and send
the next one, for a fixed duration or request count. Targets must be on
loopback; durations and counts are capped, so a run always ends.

The engine must cost far less CPU than the proxy it measures, so it has no
task or client object per request: one `asyncio.Protocol` per keep-alive
connection reacts to callbacks, the request bytes are built once, and
responses (Content-Length or chunked) are framed by httptools. On uvloop
that is about 20 µs of CPU per request.

Transport errors, unparsable responses and timeouts (checked every 0.1 s)
count as errors; the connection is then replaced and the load goes on. A
server closing a keep-alive connection (``Connection: close``, or EOF
before answering a request sent on a reused connection) is reconnected to
without an error. HEAD is not supported (its responses cannot be framed).

Library use (from a script in ``bench/``)::

    from loadgen import run_load
    result = await run_load(url, body, headers, 32, duration_s=5.0)
    print(result.rps, result.p50_ms, result.p99_ms)

CLI (prints one line, or JSON with ``--json``)::

    python bench/loadgen.py http://127.0.0.1:8080/v1/messages -c 32 -d 5
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httptools

__all__ = ("MAX_DURATION_S", "MAX_REQUESTS", "Result", "main", "run_load")

MAX_DURATION_S = 300.0
MAX_REQUESTS = 10_000_000
MAX_CONCURRENCY = 4096
_SWEEP_S = 0.1  # how often requests in flight are checked for timeouts


@dataclass(frozen=True, slots=True)
class Result:
    """Outcome of one measured load phase (warm-up excluded).

    Attributes:
        url: Target URL.
        concurrency: Number of closed-loop workers (= connections).
        requests: Requests that got a complete response (any status).
        errors: Requests that failed at transport level or timed out.
        non_2xx: Responses with a status outside 200..299.
        elapsed_s: Wall time of the measured phase.
        rps: Completed responses per second.
        p50_ms: Median latency of completed requests.
        p90_ms: 90th percentile latency.
        p99_ms: 99th percentile latency.
        max_ms: Slowest completed request.
        statuses: Count of responses per status code.
        warmup_requests: Requests sent during the unmeasured warm-up.
    """

    url: str
    concurrency: int
    requests: int
    errors: int
    non_2xx: int
    elapsed_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[int, int] = field(default_factory=dict)
    warmup_requests: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-friendly data."""
        return asdict(self)

    def summary(self) -> str:
        """Return a one-line human summary."""
        return (
            f"{self.url} c={self.concurrency}: {self.rps:,.0f} req/s, "
            f"p50 {self.p50_ms:.2f} ms, p99 {self.p99_ms:.2f} ms, "
            f"{self.requests} ok-or-http-error, {self.errors} transport errors"
        )


@dataclass(slots=True)
class _Phase:
    deadline: float
    remaining: int | None
    record: bool
    done: asyncio.Future[None]
    active: int
    latencies_ns: list[int] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    sent: int = 0

    def take(self) -> bool:
        if time.perf_counter() >= self.deadline:
            return False
        if self.remaining is not None:
            if self.remaining <= 0:
                return False
            self.remaining -= 1
        self.sent += 1
        return True

    def release(self) -> None:
        """Note one worker gone idle; the phase is done when all are."""
        self.active -= 1
        if not self.active:
            self.done.set_result(None)


@dataclass(frozen=True, slots=True)
class _Target:
    host: str
    port: int
    ssl: bool | None
    request: bytes


def _check_target(url: str) -> None:
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"load targets must be on loopback, not {host!r}")


def _check_bounds(concurrency: int, duration_s: float | None, requests: int | None) -> None:
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be in 1..{MAX_CONCURRENCY}")
    if duration_s is None and requests is None:
        raise ValueError("give duration_s or requests")
    if duration_s is not None and not 0 < duration_s <= MAX_DURATION_S:
        raise ValueError(f"duration_s must be in (0, {MAX_DURATION_S}]")
    if requests is not None and not 0 < requests <= MAX_REQUESTS:
        raise ValueError(f"requests must be in 1..{MAX_REQUESTS}")


def _target(url: str, method: str, headers: Mapping[str, str], body: bytes) -> _Target:
    """Parse the URL and build the request bytes sent on every request."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"URL scheme must be http or https, not {parts.scheme!r}")
    if method.upper() == "HEAD":
        raise ValueError("HEAD is not supported")
    https = parts.scheme == "https"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # The body is fixed, so its length is ours to state, never the caller's.
    fields = [(k, v) for k, v in headers.items() if k.lower() != "content-length"]
    if not any(k.lower() == "host" for k, _ in fields):
        fields.insert(0, ("Host", parts.netloc))
    fields.append(("Content-Length", str(len(body))))
    lines = [f"{method} {target} HTTP/1.1", *(f"{k}: {v}" for k, v in fields)]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    port = parts.port or (443 if https else 80)
    return _Target(parts.hostname or "", port, True if https else None, request)


class _Conn(asyncio.Protocol):
    """One TCP connection of a worker; frames its responses with httptools.

    Callbacks from a connection its worker has dropped are ignored.
    """

    __slots__ = ("worker", "parser", "transport", "task", "served", "partial")

    def __init__(self, worker: _Worker) -> None:
        self.worker = worker
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[Any] | None = None
        self.served = False  # a response completed: the connection was reused
        self.partial = False  # bytes of the current response arrived

    def opened(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.worker.failed(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.worker.connected(self)

    def data_received(self, data: bytes) -> None:
        self.partial = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            raise  # a bug of ours, not of the server
        except httptools.HttpParserError:
            self.worker.failed(self)

    def on_message_complete(self) -> None:
        self.served = True
        self.partial = False
        parser = self.parser
        self.worker.completed(self, parser.get_status_code(), parser.should_keep_alive())

    def connection_lost(self, exc: Exception | None) -> None:
        self.worker.lost(self)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        elif self.task is not None:
            self.task.cancel()


class _Worker:
    """One closed-loop slot: at most one request in flight, on its own connection.

    `started` is the send time of the request in flight, 0 when idle.
    """

    __slots__ = ("client", "conn", "started")

    def __init__(self, client: _Client) -> None:
        self.client = client
        self.conn: _Conn | None = None
        self.started = 0

    def next(self) -> None:
        """Send the next request if the phase has one left, else go idle."""
        phase = self.client.phase
        if not phase.take():
            self.started = 0
            phase.release()
            return
        self.started = time.perf_counter_ns()
        conn = self.conn
        # An idle connection may be closed with its connection_lost still
        # pending; uvloop raises on a write to it.
        if conn is None or conn.transport.is_closing():  # type: ignore[union-attr]
            self._connect()
        else:
            conn.transport.write(self.client.target.request)  # type: ignore[union-attr]

    def connected(self, conn: _Conn) -> None:
        if conn is self.conn:
            conn.transport.write(self.client.target.request)  # type: ignore[union-attr]
        else:
            conn.close()

    def completed(self, conn: _Conn, status: int, keep_alive: bool) -> None:
        if conn is not self.conn or not self.started:
            return
        phase = self.client.phase
        if phase.record:
            phase.latencies_ns.append(time.perf_counter_ns() - self.started)
            phase.statuses[status] += 1
        if not keep_alive:
            self.drop()
        self.next()

    def lost(self, conn: _Conn) -> None:
        if conn is not self.conn:
            return
        self.conn = None
        if not self.started:
            return  # an idle keep-alive connection: the next request reconnects
        if conn.served and not conn.partial:
            self._connect()  # closed before answering a reused connection: resend
        else:
            self._error()

    def failed(self, conn: _Conn) -> None:
        if conn is self.conn and self.started:
            self._error()

    def expire(self, sent_before_ns: int) -> None:
        if 0 < self.started < sent_before_ns:
            self._error()

    def drop(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()

    def _error(self) -> None:
        self.client.phase.errors += 1
        self.drop()
        self.next()

    def _connect(self) -> None:
        self.conn = conn = _Conn(self)
        target = self.client.target
        opening = self.client.loop.create_connection(
            lambda: conn, target.host, target.port, ssl=target.ssl
        )
        conn.task = self.client.loop.create_task(opening)
        conn.task.add_done_callback(conn.opened)


class _Client:
    """The workers of a run and the phase they are in."""

    def __init__(self, target: _Target, concurrency: int, timeout_s: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.target = target
        self.timeout_ns = int(timeout_s * 1e9)
        self.workers = [_Worker(self) for _ in range(concurrency)]
        self.phase: _Phase

    async def run(self, seconds: float, requests: int | None, record: bool) -> tuple[_Phase, float]:
        """Run one phase until every worker is idle; return it and its wall time."""
        started = time.perf_counter()
        done = self.loop.create_future()
        self.phase = _Phase(started + seconds, requests, record, done, len(self.workers))
        for worker in self.workers:
            worker.next()
        # PERF: one sweep for timeouts instead of a timer per request.
        while not done.done():
            await asyncio.wait((done,), timeout=_SWEEP_S)
            sent_before = time.perf_counter_ns() - self.timeout_ns
            for worker in self.workers:
                worker.expire(sent_before)
        return self.phase, time.perf_counter() - started

    def close(self) -> None:
        for worker in self.workers:
            worker.drop()


def _percentile(sorted_ns: Sequence[int], pct: float) -> float:
    if not sorted_ns:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(sorted_ns)))
    return sorted_ns[rank - 1] / 1e6


def _result(
    url: str, concurrency: int, phase: _Phase, elapsed: float, warmup: _Phase | None
) -> Result:
    latencies = sorted(phase.latencies_ns)
    done = len(latencies)
    ok = sum(n for status, n in phase.statuses.items() if 200 <= status < 300)
    return Result(
        url=url,
        concurrency=concurrency,
        requests=done,
        errors=phase.errors,
        non_2xx=done - ok,
        elapsed_s=elapsed,
        rps=done / elapsed if elapsed > 0 else 0.0,
        p50_ms=_percentile(latencies, 50),
        p90_ms=_percentile(latencies, 90),
        p99_ms=_percentile(latencies, 99),
        max_ms=latencies[-1] / 1e6 if latencies else math.nan,
        statuses=dict(sorted(phase.statuses.items())),
        warmup_requests=warmup.sent if warmup is not None else 0,
    )


async def run_load(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    concurrency: int,
    *,
    duration_s: float | None = None,
    requests: int | None = None,
    method: str = "POST",
    warmup_s: float = 0.0,
    timeout_s: float = 30.0,
) -> Result:
    """Drive closed-loop load at a loopback URL and measure it.

    Args:
        url: Target URL on loopback.
        body: Request body sent with every request.
        headers: Request headers sent with every request.
        concurrency: Workers, each on its own keep-alive connection.
        duration_s: Length of the measured phase.
        requests: Stop after this many requests (capped by
            `MAX_DURATION_S` when no duration is given).
        method: HTTP method.
        warmup_s: Unmeasured load before the measured phase.
        timeout_s: Per-request timeout.

    Raises:
        ValueError: Non-loopback target or out-of-bounds arguments.
    """
    _check_target(url)
    _check_bounds(concurrency, duration_s, requests)
    seconds = duration_s if duration_s is not None else MAX_DURATION_S
    client = _Client(_target(url, method, headers, body), concurrency, timeout_s)
    try:
        warmup = None
        if warmup_s > 0:
            warmup, _ = await client.run(min(warmup_s, 60.0), None, False)
        phase, elapsed = await client.run(seconds, requests, True)
    finally:
        client.close()
    return _result(url, concurrency, phase, elapsed, warmup)


def _parse_header(value: str) -> tuple[str, str]:
    name, sep, rest = value.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"header must look like 'Name: value', got {value!r}")
    return name.strip(), rest.strip()


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Closed-loop HTTP load on loopback.")
    parser.add_argument("url")
    parser.add_argument("-c", "--concurrency", type=int, default=1)
    parser.add_argument("-d", "--duration", type=float, help="seconds to measure")
    parser.add_argument("-n", "--requests", type=int, help="requests to send")
    parser.add_argument("--warmup", type=float, default=0.0, help="unmeasured seconds first")
    parser.add_argument("-X", "--method", default="POST")
    parser.add_argument("-H", "--header", type=_parse_header, action="append", default=[])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--body", default="", help="request body text")
    group.add_argument("--body-file", type=Path, help="request body file")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request seconds")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.duration is None and args.requests is None:
        parser.error("give --duration or --requests")
    return args


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    args = _parse_args(argv)
    body = args.body_file.read_bytes() if args.body_file else args.body.encode()
    load = run_load(
        args.url,
        body,
        dict(args.header),
        args.concurrency,
        duration_s=args.duration,
        requests=args.requests,
        method=args.method,
        warmup_s=args.warmup,
        timeout_s=args.timeout,
    )
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        try:
            result = runner.run(load)
        except ValueError as ex:
            print(f"loadgen: {ex}", file=sys.stderr)
            return 2
    print(json.dumps(result.to_dict()) if args.json else result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
