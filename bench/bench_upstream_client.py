"""Compare upstream HTTP clients for the proxy, side by side, in one run.

Starts the fake upstream (a 599-byte Messages JSON), then for each client
a one-worker uvicorn + Falcon ASGI pass-through app that forwards
``POST /v1/messages`` upstream with that client, and drives it with the
closed-loop load generator at 32 connections and at 1. Every role is its
own process; the proxy is pinned to core 0, load generator and upstream
to core 1 (when the machine has two), so the proxy gets one full core.
Rounds are interleaved and each cell reports its best round (noise from
other processes only ever slows a run down), with the spread shown.

Clients measured:

* ``aiohttp``: a bare `aiohttp.ClientSession`.
* ``httpx``: a bare `httpx.AsyncClient` (needs ``pip install httpx``;
  skipped when missing; it is not a project dependency).
* ``ccbridge``: `ccbridge.upstream.client` (aiohttp plus our URL and
  header rules), i.e. what the proxy will really run.

Run: ``.venv/bin/python bench/bench_upstream_client.py`` (about 50 s).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    Children,
    cpu_plan,
    cpu_seconds,
    free_port,
    load,
    read_ready,
    wait_healthy,
)

__all__ = ("create_app", "main")

CLIENTS = ("aiohttp", "httpx", "ccbridge")
FAKE_KEY = "sk-ant-api03-bench-not-a-real-key"
CLIENT_HEADERS = {
    "content-type": "application/json",
    "anthropic-version": "2023-06-01",
    "x-api-key": "sk-proxy-bench-client-key",
    "user-agent": "claude-cli/2.1.30 (external, cli)",
}
REQUEST_BODY = json.dumps(
    {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 1024,
        "metadata": {"user_id": "user_bench_account__session_0f1e2d3c"},
        "messages": [{"role": "user", "content": "Fix the off-by-one in sum_window(). " * 8}],
    }
)


# --------------------------------------------------------------------------
# Child role: the pass-through proxy
# --------------------------------------------------------------------------


class _Forwarder(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def forward(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, str, bytes]: ...


def _bare_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {
        "content-type": headers.get("content-type", "application/json"),
        "anthropic-version": headers.get("anthropic-version", "2023-06-01"),
        "x-api-key": FAKE_KEY,
    }


class _AiohttpForwarder:
    def __init__(self, upstream: str) -> None:
        self._url = upstream + "/v1/messages"
        self._session: Any = None

    async def open(self) -> None:
        import aiohttp

        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(total=30),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self) -> None:
        await self._session.close()

    async def forward(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, str, bytes]:
        async with self._session.post(self._url, data=body, headers=_bare_headers(headers)) as r:
            return r.status, r.headers.get("content-type", ""), await r.read()


class _HttpxForwarder:
    def __init__(self, upstream: str) -> None:
        self._url = upstream + "/v1/messages"
        self._client: Any = None

    async def open(self) -> None:
        import httpx

        self._client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
            timeout=httpx.Timeout(30.0),
            trust_env=False,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def forward(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, str, bytes]:
        resp = await self._client.post(self._url, content=body, headers=_bare_headers(headers))
        return resp.status_code, resp.headers.get("content-type", ""), resp.content


class _CcbridgeForwarder:
    def __init__(self, upstream: str) -> None:
        from ccbridge.upstream import client as up

        self._up = up
        self._url = up.claude_url(upstream, "/v1/messages")
        self._client = up.UpstreamClient()
        self._rules = up.StripRules.compile(up.DEFAULT_STRIP_PATTERNS)

    async def open(self) -> None:
        await self._client.open()

    async def close(self) -> None:
        await self._client.close()

    async def forward(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, str, bytes]:
        outbound = self._up.build_outbound_headers(
            headers, api_key=FAKE_KEY, ua_family="messages", strip_rules=self._rules
        )
        resp = await self._client.send("POST", self._url, outbound, body, header_timeout=30)
        async with resp:
            return resp.status, resp.content_type or "", await resp.read()


_FORWARDERS = {
    "aiohttp": _AiohttpForwarder,
    "httpx": _HttpxForwarder,
    "ccbridge": _CcbridgeForwarder,
}


class _Passthrough:
    def __init__(self, forwarder: _Forwarder) -> None:
        self._forwarder = forwarder

    async def on_post(self, req: Any, resp: Any) -> None:
        body = await req.stream.read()
        status, content_type, data = await self._forwarder.forward(body, req.headers)
        resp.status = status
        resp.content_type = content_type
        resp.data = data


class _Health:
    async def on_get(self, req: Any, resp: Any) -> None:
        resp.media = {"status": "healthy"}


class _Lifespan:
    def __init__(self, forwarder: _Forwarder) -> None:
        self._forwarder = forwarder

    async def process_startup(self, scope: Any, event: Any) -> None:
        await self._forwarder.open()

    async def process_shutdown(self, scope: Any, event: Any) -> None:
        await self._forwarder.close()


def create_app(client: str, upstream: str) -> Any:
    """Return a Falcon ASGI pass-through app using `client` upstream."""
    import falcon.asgi

    forwarder = _FORWARDERS[client](upstream)
    app = falcon.asgi.App(middleware=[_Lifespan(forwarder)])
    app.add_route("/v1/messages", _Passthrough(forwarder))
    app.add_route("/health", _Health())
    return app


def _serve(client: str, upstream: str, port: int, reuse_port: bool = False) -> int:
    import uvicorn

    from ccbridge.workers import listen_socket

    config = uvicorn.Config(
        create_app(client, upstream),
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="warning",
    )
    # Several of these on one port share the load as `ccbridge serve --workers` does.
    sockets = [listen_socket("127.0.0.1", port)] if reuse_port else None
    uvicorn.Server(config).run(sockets=sockets)
    return 0


# --------------------------------------------------------------------------
# Parent role: orchestration
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Cell:
    target: str
    concurrency: int
    result: dict[str, Any]
    cpu_us_per_req: float | None = None


def _load(
    children: Children, url: str, concurrency: int, args: argparse.Namespace, cpus: set[int] | None
) -> dict[str, Any]:
    return load(
        children,
        url,
        concurrency,
        duration=args.duration,
        warmup=args.warmup,
        body=REQUEST_BODY,
        headers=CLIENT_HEADERS,
        cpus=cpus,
    )


def _measure_target(
    children: Children,
    name: str,
    url: str,
    args: argparse.Namespace,
    side: set[int] | None,
    proxy_pid: int | None = None,
) -> Iterator[_Cell]:
    for concurrency in args.concurrency:
        before = cpu_seconds(proxy_pid) if proxy_pid else None
        result = _load(children, url, concurrency, args, side)
        after = cpu_seconds(proxy_pid) if proxy_pid else None
        cpu_us = None
        if before is not None and after is not None:
            # NOTE(upstream): CPU per request resists noise from other processes.
            total = result["requests"] + result["errors"] + result["warmup_requests"]
            cpu_us = (after - before) / max(total, 1) * 1e6
        yield _Cell(name, concurrency, result, cpu_us)


def _measure_proxy(
    children: Children,
    client: str,
    upstream: str,
    args: argparse.Namespace,
    cpus: tuple[set[int] | None, set[int] | None],
) -> list[_Cell]:
    port = free_port()
    serve = ["bench/bench_upstream_client.py", "serve", "--client", client]
    proc = children.spawn([*serve, "--upstream", upstream, "--port", str(port)], cpus[0])
    try:
        wait_healthy(port, proc)
        url = f"http://127.0.0.1:{port}/v1/messages"
        return list(_measure_target(children, client, url, args, cpus[1], proc.pid))
    finally:
        children.stop(proc)


def _httpx_version() -> str | None:
    try:
        import httpx
    except ImportError:
        return None
    return httpx.__version__


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


@dataclass(frozen=True, slots=True)
class _Summary:
    best: dict[str, Any]
    spread: str
    cpu_us: float | None


def _summarize(cells: list[_Cell]) -> dict[tuple[str, int], _Summary]:
    """Return per (target, conns) the best round, spread and min CPU."""
    grouped: dict[tuple[str, int], list[_Cell]] = {}
    for cell in cells:
        grouped.setdefault((cell.target, cell.concurrency), []).append(cell)
    summary = {}
    for key, group in grouped.items():
        rates = sorted(c.result["rps"] for c in group)
        spread = f"{rates[0]:,.0f}-{rates[-1]:,.0f}" if len(rates) > 1 else "-"
        cpus = [c.cpu_us_per_req for c in group if c.cpu_us_per_req is not None]
        best = max(group, key=lambda c: c.result["rps"]).result
        summary[key] = _Summary(best, spread, min(cpus) if cpus else None)
    return summary


def _print_table(cells: list[_Cell], args: argparse.Namespace, meta: Mapping[str, str]) -> None:
    print(f"\nupstream client bench: {meta['machine']}")
    print(f"  {meta['setup']}")
    print(
        f"  {args.duration:g} s measured (+{args.warmup:g} s warm-up) per cell, "
        f"best of {args.rounds} interleaved rounds\n"
    )
    head = f"{'target':<20}{'conns':>6}{'req/s':>9}{'spread req/s':>16}{'p50 ms':>9}{'p99 ms':>9}"
    print(head + f"{'proxy CPU us/req':>18}{'errors':>8}")
    summary = _summarize(cells)
    for (target, concurrency), s in summary.items():
        r = s.best
        cpu = f"{s.cpu_us:.0f}" if s.cpu_us is not None else "-"
        print(
            f"{target:<20}{concurrency:>6}{r['rps']:>9,.0f}{s.spread:>16}"
            f"{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{cpu:>18}{r['errors'] + r['non_2xx']:>8}"
        )
    by_key = {key: s.best for key, s in summary.items()}
    cpu_by_key = {key: s.cpu_us for key, s in summary.items()}
    for concurrency in args.concurrency:
        a, h = by_key.get(("aiohttp", concurrency)), by_key.get(("httpx", concurrency))
        if a and h:
            ca, ch = cpu_by_key[("aiohttp", concurrency)], cpu_by_key[("httpx", concurrency)]
            print(
                f"aiohttp/httpx @{concurrency:>2} conns: req/s x{_ratio(a['rps'], h['rps'])}, "
                f"p50 x{_ratio(a['p50_ms'], h['p50_ms'])}, "
                f"p99 x{_ratio(a['p99_ms'], h['p99_ms'])}, CPU/req x{_ratio(ca or 0, ch or 0)}"
            )


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="child role: run one pass-through proxy")
    serve.add_argument("--client", choices=CLIENTS, required=True)
    serve.add_argument("--upstream", required=True)
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--reuse-port", action="store_true", help="bind with SO_REUSEPORT")
    parser.add_argument("--duration", type=float, default=2.0, help="measured seconds per cell")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--warmup", type=float, default=0.5, help="warm-up seconds per cell")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 1])
    parser.add_argument("--clients", nargs="+", choices=CLIENTS, default=list(CLIENTS))
    return parser.parse_args(argv)


def _run_bench(args: argparse.Namespace) -> int:
    started = time.monotonic()
    cpus = cpu_plan()
    httpx_version = _httpx_version()
    clients = [c for c in args.clients if c != "httpx" or httpx_version]
    if "httpx" in args.clients and not httpx_version:
        print("httpx is not installed: skipping it (pip install 'httpx==0.28.*')")
    children = Children()
    cells: list[_Cell] = []
    try:
        fake = children.spawn(
            ["-m", "tests.fakes.upstream", "--mode", "messages-json", "--max-seconds", "300"],
            cpus[1],
        )
        upstream = read_ready(fake, timeout=15)
        # NOTE(upstream): without a proxy, the load generator gets core 0.
        direct = upstream + "/v1/messages"
        for round_no in range(max(1, args.rounds)):
            cells += _measure_target(children, "direct (no proxy)", direct, args, cpus[0])
            shift = round_no % len(clients)
            for client in clients[shift:] + clients[:shift]:
                cells += _measure_proxy(children, client, upstream, args, cpus)
    finally:
        children.stop_all()
    import aiohttp

    pinning = "proxy on core 0, loadgen+upstream on core 1" if cpus[0] else "no CPU pinning"
    meta = {
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, loopback, {pinning}",
        "setup": (
            f"uvicorn 1 worker (uvloop, httptools) + Falcon ASGI; aiohttp {aiohttp.__version__}, "
            f"httpx {httpx_version or '-'}; upstream answers a 599-byte Messages JSON"
        ),
    }
    _print_table(cells, args, meta)
    print(f"\ntotal wall time {time.monotonic() - started:.1f} s")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, or a child role when given ``serve``."""
    args = _parse_args(argv)
    if args.command == "serve":
        return _serve(args.client, args.upstream, args.port, args.reuse_port)
    return _run_bench(args)


if __name__ == "__main__":
    sys.exit(main())
