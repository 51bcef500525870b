"""Tests for the fake upstream server."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.upstream import (
    CloseAfter,
    FakeUpstream,
    Hang,
    JsonReply,
    RecordedRequest,
    SseEvent,
    SseReply,
    anthropic_error,
    messages_json,
    messages_json_reply,
    messages_sse_events,
    messages_sse_reply,
    openai_error,
    resource_exhausted_error,
    responses_json_reply,
    responses_sse_events,
    responses_sse_reply,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


async def _raw_exchange(port: int, request: bytes, *, read_timeout: float = 2.0) -> bytes:
    """Send raw bytes on a fresh connection; return all bytes until EOF."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), read_timeout)
    finally:
        writer.close()


def _post(path: str, body: bytes, *extra: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: fake", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _sse_data(body: bytes) -> list[dict]:
    return [
        json.loads(line[6:])
        for line in body.decode().split("\n")
        if line.startswith("data: ") and line[6:].startswith("{")
    ]


async def test_json_reply_bytes_and_request_record() -> None:
    reply = messages_json_reply()
    async with FakeUpstream(reply) as up:
        raw = await _raw_exchange(
            up.port,
            _post("/v1/messages?beta=true", b'{"model":"x"}', "X-Api-Key: k", "Connection: close"),
        )
    assert raw == reply.wire
    (request,) = up.requests
    assert request == RecordedRequest(
        method="POST",
        path="/v1/messages",
        query="beta=true",
        headers=(
            ("Host", "fake"),
            ("Content-Length", "13"),
            ("X-Api-Key", "k"),
            ("Connection", "close"),
        ),
        body=b'{"model":"x"}',
        conn_id=1,
    )
    assert request.header("x-api-key") == "k"
    assert request.json() == {"model": "x"}
    assert "x-api-key" in request.header_names()


async def test_keep_alive_serves_many_requests_per_connection() -> None:
    async with FakeUpstream(default=messages_json_reply()) as up:
        async with aiohttp.ClientSession() as session:
            for _ in range(3):
                async with session.post(up.url + "/v1/messages", data=b"{}") as resp:
                    assert resp.status == 200
                    assert await resp.json() == messages_json()
    assert up.connections_opened == 1
    assert {r.conn_id for r in up.requests} == {1}


async def test_queue_then_responder_then_default_then_500() -> None:
    seen: list[str] = []

    async def responder(request: RecordedRequest) -> JsonReply:
        seen.append(request.path)
        return JsonReply({"from": "responder"}, status=201)

    async with FakeUpstream(JsonReply({"n": 1}), JsonReply({"n": 2})) as up:
        async with aiohttp.ClientSession() as session:

            async def get() -> tuple[int, object]:
                async with session.get(up.url + "/x") as resp:
                    return resp.status, await resp.json()

            assert await get() == (200, {"n": 1})
            assert await get() == (200, {"n": 2})
            assert (await get())[0] == 500  # nothing scripted
            up.responder = responder
            assert await get() == (201, {"from": "responder"})
            up.responder = None
            up.default = JsonReply({"d": True})
            up.enqueue(JsonReply({"n": 3}))
            assert await get() == (200, {"n": 3})
            assert await get() == (200, {"d": True})
    assert seen == ["/x"]


async def test_error_builders_shapes() -> None:
    async with FakeUpstream(
        resource_exhausted_error(),
        resource_exhausted_error(reason=None),
        anthropic_error(),
        anthropic_error(401, "authentication_error", "invalid x-api-key"),
        openai_error(500, "boom", "server_error"),
    ) as up:
        async with aiohttp.ClientSession() as session:
            results = []
            for _ in range(5):
                async with session.post(up.url + "/v1/messages") as resp:
                    results.append((resp.status, resp.reason, await resp.json()))
    quota, plain, overloaded, auth, server = results
    assert quota[0] == 429
    assert quota[2]["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert quota[2]["error"]["details"][0]["reason"] == "QUOTA_EXHAUSTED"
    assert "details" not in plain[2]["error"]
    assert overloaded[:2] == (529, "Site Overloaded")
    assert overloaded[2] == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    assert auth[0] == 401 and auth[2]["error"]["type"] == "authentication_error"
    assert server[0] == 500 and server[2]["error"]["message"] == "boom"


async def test_sse_stream_paced_per_event() -> None:
    reply = SseReply(
        [SseEvent({"n": 0}, "a"), SseEvent({"n": 1}, "b", delay=0.15), b"data: raw\n\n"],
        event_delay=0.0,
    )
    async with FakeUpstream(reply) as up:
        async with aiohttp.ClientSession() as session:
            start = time.perf_counter()
            async with session.post(up.url + "/v1/messages") as resp:
                assert resp.headers["Content-Type"] == "text/event-stream; charset=utf-8"
                assert resp.headers["Transfer-Encoding"] == "chunked"
                arrivals: list[tuple[float, bytes]] = []
                async for chunk in resp.content.iter_any():
                    arrivals.append((time.perf_counter() - start, chunk))
    body = b"".join(chunk for _, chunk in arrivals)
    assert body == reply.body_bytes
    assert body.startswith(b'event: a\ndata: {"n":0}\n\n')
    assert body.endswith(b"data: raw\n\n")
    first_at = next(t for t, c in arrivals if c)
    assert first_at < 0.1  # first event is not held back by the later delay
    assert arrivals[-1][0] >= 0.15


async def test_sse_multiline_string_data() -> None:
    assert SseEvent("a\nb").encode() == b"data: a\ndata: b\n\n"
    assert SseEvent("x", event="e").encode() == b"event: e\ndata: x\n\n"


async def test_hang_sends_nothing_and_ends_on_close() -> None:
    up = FakeUpstream(Hang(seconds=30))
    await up.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", up.port)
    writer.write(_post("/v1/messages", b"{}"))
    await writer.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(1), 0.2)
    started = time.perf_counter()
    await up.close()
    assert await asyncio.wait_for(reader.read(), 1.0) == b""
    assert time.perf_counter() - started < 1.0
    writer.close()
    assert len(up.requests) == 1


async def test_hang_is_bounded_by_its_seconds() -> None:
    async with FakeUpstream(Hang(seconds=0.1)) as up:
        raw = await _raw_exchange(up.port, _post("/", b""), read_timeout=1.0)
    assert raw == b""


async def test_close_after_zero_bytes_and_after_n_bytes() -> None:
    reply = messages_sse_reply(deltas=3)
    cut = reply.wire_length_through(2)
    async with FakeUpstream(CloseAfter(), CloseAfter(reply, cut)) as up:
        assert await _raw_exchange(up.port, _post("/", b"")) == b""
        raw = await _raw_exchange(up.port, _post("/", b""))
    assert raw == reply.wire[:cut]
    assert raw.endswith(b"\r\n") and b"content_block_start" in raw
    assert b"content_block_delta" not in raw


async def test_close_after_breaks_aiohttp_payload() -> None:
    reply = messages_json_reply()
    async with FakeUpstream(CloseAfter(reply, len(reply.wire) - 10)) as up:
        async with aiohttp.ClientSession() as session:
            async with session.post(up.url + "/v1/messages") as resp:
                assert resp.status == 200
                with pytest.raises(aiohttp.ClientPayloadError):
                    await resp.read()


async def test_chunked_request_body_and_expect_continue() -> None:
    request = (
        b"POST /v1/responses HTTP/1.1\r\nHost: fake\r\nTransfer-Encoding: chunked\r\n"
        b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
        b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    async with FakeUpstream(JsonReply(b"ok", headers={"content-type": "text/plain"})) as up:
        raw = await _raw_exchange(up.port, request)
    assert raw.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")
    assert b"content-type: text/plain\r\n" in raw and raw.endswith(b"\r\n\r\nok")
    assert up.requests[0].body == b"hello world"


async def test_max_records_bounds_memory() -> None:
    async with FakeUpstream(default=JsonReply({}), max_records=2) as up:
        async with aiohttp.ClientSession() as session:
            for i in range(4):
                async with session.get(f"{up.url}/r{i}") as resp:
                    await resp.read()
    assert [r.path for r in up.requests] == ["/r2", "/r3"]


async def test_close_with_idle_keep_alive_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    up = FakeUpstream(default=JsonReply({}))
    await up.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", up.port)
    writer.write(_post("/", b""))
    await writer.drain()
    await reader.readuntil(b"{}")
    assert up.open_connections == 1
    await up.close()
    await asyncio.sleep(0.01)  # let asyncio run the stream's done-callback
    assert await reader.read() == b""
    writer.close()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_lifecycle_errors_and_idempotent_close() -> None:
    up = FakeUpstream()
    await up.start()
    with pytest.raises(RuntimeError):
        await up.start()
    await up.close()
    await up.close()


def test_messages_json_is_realistic() -> None:
    body = messages_json_reply().body_bytes
    assert 550 <= len(body) <= 650
    usage = json.loads(body)["usage"]
    assert usage["cache_creation_input_tokens"] == 1024
    assert usage["cache_read_input_tokens"] == 20480
    assert usage["input_tokens"] == 2095 and usage["output_tokens"] == 187


def test_messages_sse_event_order_and_usage() -> None:
    events = messages_sse_events(deltas=["a", "b", "c"], output_tokens=42)
    names = [e.event for e in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(e.data["type"] == e.event for e in events)
    start, delta = events[0].data["message"], events[-2].data
    assert start["usage"]["cache_read_input_tokens"] == 20480
    assert delta["usage"]["output_tokens"] == 42
    text = "".join(e.data["delta"]["text"] for e in events if e.event == "content_block_delta")
    assert text == "abc"
    assert len(messages_sse_events(deltas=7, ping=False)) == 12


def test_responses_sse_event_order_and_usage() -> None:
    events = responses_sse_events(deltas=["x", "y"], cached_tokens=7)
    kinds = [e.event for e in events]
    assert kinds[0] == "response.created"
    assert kinds.count("response.output_text.delta") == 2
    assert kinds[-1] == "response.completed"
    assert [e.data["sequence_number"] for e in events] == list(range(len(events)))
    usage = events[-1].data["response"]["usage"]
    assert usage["input_tokens_details"]["cached_tokens"] == 7
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert events[-1].data["response"]["output"][0]["content"][0]["text"] == "xy"
    parsed = _sse_data(responses_sse_reply(deltas=["x", "y"], cached_tokens=7).body_bytes)
    assert parsed == [e.data for e in events]


def test_responses_json_usage() -> None:
    body = json.loads(responses_json_reply().body_bytes)
    assert body["object"] == "response" and body["status"] == "completed"
    assert body["usage"]["input_tokens_details"]["cached_tokens"] == 1536


def test_standalone_process_serves_and_stops_on_sigterm() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.upstream", "--mode", "messages-sse", "--deltas", "3"]
        + ["--max-seconds", "20"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    ) as proc:
        assert proc.stdout is not None
        ready = proc.stdout.readline().split()
        assert ready[0] == "READY" and ready[1].startswith("http://127.0.0.1:")

        async def fetch() -> bytes:
            async with aiohttp.ClientSession() as session:
                async with session.post(ready[1] + "/v1/messages", data=b"{}") as resp:
                    return await resp.read()

        body = asyncio.run(fetch())
        assert [d["type"] for d in _sse_data(body)][:2] == ["message_start", "content_block_start"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0


def test_standalone_process_refuses_non_loopback_host() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.fakes.upstream", "--host", "0.0.0.0", "--max-seconds", "1"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=10,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert done.returncode == 2
    assert "loopback" in done.stderr
