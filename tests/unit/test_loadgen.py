"""bench/loadgen.py against real loopback servers: framing, errors, reconnects."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.loadgen import Result, run_load
from tests.fakes.upstream import (
    FakeUpstream,
    Hang,
    JsonReply,
    anthropic_error,
    messages_json_reply,
    messages_sse_reply,
    openai_error,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
BODY = b'{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"h\xc3\xa9"}]}'
HEADERS = {"x-api-key": "sk-test", "anthropic-version": "2023-06-01"}


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port that is bound but not listening, so connects are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


async def test_json_replies_on_keep_alive_connections() -> None:
    async with FakeUpstream(default=messages_json_reply()) as up:
        result = await run_load(f"{up.url}/v1/messages", BODY, HEADERS, 4, requests=200)
    assert (result.requests, result.errors, result.non_2xx) == (200, 0, 0)
    assert result.statuses == {200: 200}
    assert up.connections_opened == 4
    assert 0 < result.p50_ms <= result.p90_ms <= result.p99_ms <= result.max_ms
    assert result.rps > 0 and result.warmup_requests == 0


@pytest.mark.parametrize("event_delay", [0.0, 0.002], ids=["one-write", "paced"])
async def test_chunked_sse_streams_complete_at_their_end(event_delay: float) -> None:
    reply = messages_sse_reply(deltas=10, event_delay=event_delay)
    async with FakeUpstream(default=reply) as up:
        result = await run_load(f"{up.url}/v1/messages", BODY, HEADERS, 2, requests=6)
    assert (result.requests, result.errors, result.statuses) == (6, 0, {200: 6})
    assert up.connections_opened == 2
    # Paced events arrive one chunk at a time: a request lasts the whole stream.
    assert result.p50_ms >= len(reply.events) * event_delay * 1000


async def test_non_2xx_statuses_are_counted() -> None:
    replies = (messages_json_reply(), anthropic_error(529), openai_error(429))
    async with FakeUpstream(*replies, default=messages_json_reply()) as up:
        result = await run_load(f"{up.url}/v1/messages", BODY, HEADERS, 1, requests=5)
    assert (result.requests, result.errors, result.non_2xx) == (5, 0, 2)
    assert result.statuses == {200: 3, 429: 1, 529: 1}


@pytest.mark.parametrize(
    ("request_headers", "reply"),
    [
        ({"Connection": "close"}, messages_json_reply()),
        ({}, messages_json_reply(headers={"Connection": "close"})),
    ],
    ids=["server-closes-silently", "response-says-close"],
)
async def test_closed_connections_are_replaced_without_errors(
    request_headers: dict[str, str], reply: JsonReply
) -> None:
    async with FakeUpstream(default=reply) as up:
        result = await run_load(f"{up.url}/v1/messages", BODY, request_headers, 2, requests=20)
    assert (result.requests, result.errors, result.statuses) == (20, 0, {200: 20})
    assert up.connections_opened == len(up.requests) == 20


async def test_refused_connections_count_as_errors(refused_port: int) -> None:
    url = f"http://127.0.0.1:{refused_port}/v1/messages"
    result = await run_load(url, BODY, HEADERS, 2, requests=10)
    assert (result.requests, result.errors, result.statuses) == (0, 10, {})
    assert math.isnan(result.p50_ms)
    timed = await run_load(url, BODY, HEADERS, 2, duration_s=0.2)
    assert timed.errors > 0 and timed.elapsed_s < 1.0


async def test_timed_out_request_is_an_error_and_its_connection_replaced() -> None:
    async with FakeUpstream(Hang(5), default=messages_json_reply()) as up:
        result = await run_load(
            f"{up.url}/v1/messages", BODY, HEADERS, 1, requests=3, timeout_s=0.2
        )
    assert (result.requests, result.errors, result.statuses) == (2, 1, {200: 2})
    assert result.elapsed_s < 1.0  # the timeout, not the server's 5 s hang, ended it
    assert up.connections_opened == 2


async def test_requests_limit_is_exact_after_warmup() -> None:
    async with FakeUpstream(default=messages_json_reply()) as up:
        result = await run_load(
            f"{up.url}/v1/messages", BODY, HEADERS, 8, requests=37, warmup_s=0.05
        )
    assert result.requests == 37 and result.errors == 0
    assert result.warmup_requests > 0
    assert len(up.requests) == 37 + result.warmup_requests
    assert up.connections_opened == 8


async def test_server_receives_exactly_the_given_request() -> None:
    headers = {**HEADERS, "Content-Type": "application/json", "content-length": "1"}
    async with FakeUpstream(default=messages_json_reply()) as up:
        await run_load(f"{up.url}/v1/messages?beta=true", BODY, headers, 1, requests=2)
        await run_load(f"{up.url}/empty", b"", {}, 1, requests=1, method="PUT")
    first, second, put = up.requests
    assert first == dataclasses.replace(second, conn_id=first.conn_id)
    assert (first.method, first.path, first.query, first.body) == (
        "POST",
        "/v1/messages",
        "beta=true",
        BODY,
    )
    # Host is added; Content-Length is always the body's own.
    assert first.headers == (
        ("Host", f"127.0.0.1:{up.port}"),
        ("x-api-key", "sk-test"),
        ("anthropic-version", "2023-06-01"),
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(BODY))),
    )
    assert (put.method, put.path, put.body) == ("PUT", "/empty", b"")
    assert put.header("content-length") == "0"


@pytest.mark.parametrize(
    ("url", "concurrency", "kwargs"),
    [
        ("http://10.0.0.1/", 1, {"requests": 1}),
        ("http://example.com/", 1, {"requests": 1}),
        ("ftp://127.0.0.1/", 1, {"requests": 1}),
        ("http://127.0.0.1/", 1, {"requests": 1, "method": "HEAD"}),
        ("http://127.0.0.1/", 1, {}),
        ("http://127.0.0.1/", 1, {"duration_s": 301.0}),
        ("http://127.0.0.1/", 1, {"requests": 0}),
        ("http://127.0.0.1/", 0, {"requests": 1}),
    ],
)
async def test_rejects_bad_targets_and_bounds(
    url: str, concurrency: int, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        await run_load(url, b"", {}, concurrency, **kwargs)


async def test_cli_prints_result_json() -> None:
    async with FakeUpstream(default=messages_json_reply()) as up:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "bench/loadgen.py",
            f"{up.url}/v1/messages",
            *("-c", "2", "-n", "20", "--body", '{"a":1}', "-H", "x-api-key: sk-cli", "--json"),
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    data = json.loads(out)
    assert set(data) == {f.name for f in dataclasses.fields(Result)}
    assert (data["requests"], data["errors"], data["statuses"]) == (20, 0, {"200": 20})
    assert up.requests[0].body == b'{"a":1}'
    assert up.requests[0].header("x-api-key") == "sk-cli"
