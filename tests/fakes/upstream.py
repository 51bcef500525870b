"""Fake upstream HTTP/1.1 server for proxy tests and benchmarks.

A raw `asyncio.start_server` on loopback that plays the vendor side of the
Anthropic Messages and OpenAI Responses APIs. Each request is answered by
the next scripted reply (a queue), else by a responder callable, else by a
default reply; every request is recorded for assertions.

Replies:

* `JsonReply`: a status, headers and a body sent with Content-Length.
* `SseReply`: a chunked `text/event-stream`, one chunk per event, with
  optional per-event delays.
* `Hang`: read the request, then send nothing (header-timeout tests).
* `CloseAfter`: write the first N bytes of a reply's wire form, then
  abort the connection (N=0 closes before the status line).

In a test::

    async with FakeUpstream(messages_json_reply()) as up:
        ...  # talk to up.url
        assert up.requests[0].header("x-api-key") == "sk-ant-..."

As a benchmark process (prints ``READY <url>`` once listening)::

    python -m tests.fakes.upstream --port 0 --mode messages-json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import ipaddress
import itertools
import json
import re
import signal
import ssl
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from http import HTTPStatus
from typing import Any, TypeAlias

__all__ = (
    "CloseAfter",
    "FakeUpstream",
    "Hang",
    "JsonReply",
    "RecordedRequest",
    "Reply",
    "Responder",
    "SseEvent",
    "SseReply",
    "anthropic_error",
    "main",
    "messages_json",
    "messages_json_reply",
    "messages_sse_events",
    "messages_sse_reply",
    "openai_error",
    "resource_exhausted_error",
    "responses_json",
    "responses_json_reply",
    "responses_sse_events",
    "responses_sse_reply",
)

Headers: TypeAlias = tuple[tuple[str, str], ...]
HeadersIn: TypeAlias = Mapping[str, str] | Iterable[tuple[str, str]]

_MAX_HEAD = 1 << 20
_REASONS = {529: "Site Overloaded"}
_JSON_SEPARATORS = (",", ":")

DEFAULT_CLAUDE_MODEL = "claude-sonnet-4-5-20250929"
DEFAULT_OPENAI_MODEL = "gpt-5-codex"
_DEFAULT_TEXT = (
    "Here is the fix: the loop reads one element past the end of the slice. "
    "Change `i <= len(xs)` to `i < len(xs)` in `sum_window()` and the failing "
    "test in tests/test_window.py passes."
)


def _normalize_headers(headers: HeadersIn) -> Headers:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(name), str(value)) for name, value in items)


def _lookup(headers: Headers, name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=_JSON_SEPARATORS, ensure_ascii=False)


def _status_head(status: int, headers: Iterable[tuple[str, str]]) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = _REASONS.get(status, "Unknown")
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _with_default(headers: Headers, name: str, value: str) -> Headers:
    if _lookup(headers, name) is None:
        return ((name, value), *headers)
    return headers


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the fake upstream received it.

    Attributes:
        method: Request method, e.g. ``POST``.
        path: Path without the query, e.g. ``/v1/messages``.
        query: Raw query string without ``?`` (empty if none).
        headers: Header pairs in arrival order, names as sent.
        body: The request body, de-chunked.
        conn_id: Serial number of the TCP connection it arrived on.
    """

    method: str
    path: str
    query: str
    headers: Headers
    body: bytes
    conn_id: int

    def header(self, name: str) -> str | None:
        """Return the first value of a header (case-insensitive)."""
        return _lookup(self.headers, name)

    def header_names(self) -> frozenset[str]:
        """Return the lowercased names of all headers received."""
        return frozenset(name.lower() for name, _ in self.headers)

    def json(self) -> Any:
        """Return the body parsed as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True)
class JsonReply:
    """A complete response sent with Content-Length.

    Attributes:
        body: JSON-serialisable object, or `bytes`/`str` sent verbatim.
        status: HTTP status code.
        headers: Extra headers; Content-Type defaults to JSON.
        delay: Seconds to wait before sending the status line.
    """

    body: Any = None
    status: int = 200
    headers: HeadersIn = ()
    delay: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _normalize_headers(self.headers))

    @cached_property
    def body_bytes(self) -> bytes:
        """Return the body exactly as it goes on the wire."""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return _dumps(self.body).encode()

    @cached_property
    def wire(self) -> bytes:
        """Return status line, headers and body as sent."""
        headers = _with_default(self.headers, "content-type", "application/json")
        headers = (*headers, ("content-length", str(len(self.body_bytes))))
        return _status_head(self.status, headers) + self.body_bytes


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One server-sent event.

    Attributes:
        data: JSON-serialisable object, or a `str` sent as the data field.
        event: Optional ``event:`` name.
        delay: Seconds to wait before sending this event; `None` uses the
            reply's `event_delay`.
    """

    data: Any
    event: str | None = None
    delay: float | None = None

    def encode(self) -> bytes:
        """Return the event in SSE text form, blank line included."""
        text = self.data if isinstance(self.data, str) else _dumps(self.data)
        lines = [f"event: {self.event}"] if self.event is not None else []
        lines.extend(f"data: {line}" for line in text.split("\n"))
        return ("\n".join(lines) + "\n\n").encode()


@dataclass(frozen=True)
class SseReply:
    """A chunked event stream, one HTTP chunk per event.

    Attributes:
        events: `SseEvent`s, or raw `bytes` sent as one chunk each (to
            split an event across chunks).
        status: HTTP status code.
        headers: Extra headers; Content-Type defaults to event-stream.
        delay: Seconds to wait before sending the status line.
        event_delay: Default seconds to wait before each event.
    """

    events: Sequence[SseEvent | bytes]
    status: int = 200
    headers: HeadersIn = ()
    delay: float = 0.0
    event_delay: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _normalize_headers(self.headers))
        object.__setattr__(self, "events", tuple(self.events))

    @cached_property
    def payloads(self) -> tuple[bytes, ...]:
        """Return each event's bytes, before chunk framing."""
        return tuple(e if isinstance(e, bytes) else e.encode() for e in self.events)

    @cached_property
    def body_bytes(self) -> bytes:
        """Return the de-chunked body a client should see."""
        return b"".join(self.payloads)

    @cached_property
    def head(self) -> bytes:
        """Return status line and headers."""
        headers = _with_default(self.headers, "cache-control", "no-cache")
        headers = _with_default(headers, "content-type", "text/event-stream; charset=utf-8")
        return _status_head(self.status, (*headers, ("transfer-encoding", "chunked")))

    def delays(self) -> tuple[float, ...]:
        """Return the wait before each event, in order."""
        return tuple(
            self.event_delay if isinstance(e, bytes) or e.delay is None else e.delay
            for e in self.events
        )

    def framed(self) -> tuple[bytes, ...]:
        """Return each event as one HTTP/1.1 chunk (empty events: b"")."""
        # NOTE(upstream): a zero-size chunk would end the body, so skip it.
        return tuple(b"%x\r\n%s\r\n" % (len(p), p) if p else b"" for p in self.payloads)

    @cached_property
    def wire(self) -> bytes:
        """Return the whole response as sent, terminator included."""
        return self.head + b"".join(self.framed()) + b"0\r\n\r\n"

    def wire_length_through(self, n_events: int) -> int:
        """Return the wire length up to and including event `n_events`."""
        return len(self.head) + sum(len(c) for c in self.framed()[:n_events])


@dataclass(frozen=True, slots=True)
class Hang:
    """Read the request, send nothing, close after `seconds`.

    The wait also ends when the server closes.
    """

    seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class CloseAfter:
    """Send the first `nbytes` of a reply's wire form, then abort.

    With `reply` None or `nbytes` 0 the connection is dropped right after
    the request is read, before any response byte.
    """

    reply: JsonReply | SseReply | None = None
    nbytes: int = 0


Reply: TypeAlias = JsonReply | SseReply | Hang | CloseAfter
Responder: TypeAlias = Callable[[RecordedRequest], Reply | Awaitable[Reply]]

_NO_REPLY = JsonReply(
    {"error": {"type": "fake_upstream", "message": "no scripted reply"}}, status=500
)


class FakeUpstream:
    """Scriptable HTTP/1.1 upstream on loopback with keep-alive.

    Replies come from the queue (`enqueue`), then `responder`, then
    `default`; with none of them a 500 "no scripted reply" is sent.

    Args:
        *replies: Replies queued in order, one per request.
        responder: Called with each request when the queue is empty.
        default: Reply used when queue and responder give nothing.
        host: Loopback address to bind.
        port: Port to bind; 0 picks a free one.
        max_records: Requests kept for `requests`; None keeps all.
        max_hang: Upper bound in seconds for any `Hang`.
        ssl_context: Serve HTTPS with this server context.
    """

    def __init__(
        self,
        *replies: Reply,
        responder: Responder | None = None,
        default: Reply | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_records: int | None = 10_000,
        max_hang: float = 60.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.responder = responder
        self.default = default
        self._host = host
        self._port = port
        self._max_hang = max_hang
        self._ssl = ssl_context
        self._queue: deque[Reply] = deque(replies)
        self._records: deque[RecordedRequest] = deque(maxlen=max_records)
        self._conn_ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._closed = asyncio.Event()
        self.connections_opened = 0

    async def __aenter__(self) -> FakeUpstream:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Bind and start serving."""
        if self._server is not None:
            raise RuntimeError("fake upstream already started")
        self._closed = asyncio.Event()
        self._server = await asyncio.start_server(
            self._on_connection, self._host, self._port, limit=_MAX_HEAD, ssl=self._ssl
        )
        self._port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and drop every open connection; idempotent."""
        if self._server is None:
            return
        self._closed.set()
        self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    @property
    def port(self) -> int:
        """Return the bound port."""
        return self._port

    @property
    def url(self) -> str:
        """Return the base URL, e.g. ``http://127.0.0.1:40123``."""
        scheme = "https" if self._ssl is not None else "http"
        return f"{scheme}://{self._host}:{self._port}"

    @property
    def requests(self) -> tuple[RecordedRequest, ...]:
        """Return the recorded requests, oldest first."""
        return tuple(self._records)

    @property
    def open_connections(self) -> int:
        """Return how many client connections are open now."""
        return len(self._tasks)

    def enqueue(self, *replies: Reply) -> None:
        """Queue replies for the next requests, in order."""
        self._queue.extend(replies)

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        self.connections_opened += 1
        conn_id = next(self._conn_ids)
        try:
            await self._serve(reader, writer, conn_id)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            # NOTE(upstream): only close() cancels these tasks. Ending quietly
            # keeps asyncio's stream callback from logging it as an error.
            writer.transport.abort()
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            writer.close()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn_id: int
    ) -> None:
        while True:
            request = await _read_request(reader, writer, conn_id)
            if request is None:
                return
            self._records.append(request)
            reply = await self._pick(request)
            if not await self._send(writer, reply, head_only=request.method == "HEAD"):
                return
            if (request.header("connection") or "").lower() == "close":
                return

    async def _pick(self, request: RecordedRequest) -> Reply:
        if self._queue:
            return self._queue.popleft()
        if self.responder is not None:
            reply = self.responder(request)
            return await reply if inspect.isawaitable(reply) else reply
        return self.default if self.default is not None else _NO_REPLY

    async def _send(
        self, writer: asyncio.StreamWriter, reply: Reply, *, head_only: bool = False
    ) -> bool:
        """Write one reply; return whether the connection stays open.

        A HEAD request gets the status line and headers only (RFC 9110 9.3.2).
        """
        if isinstance(reply, JsonReply):
            if reply.delay:
                await asyncio.sleep(reply.delay)
            wire = reply.wire
            writer.write(wire[: len(wire) - len(reply.body_bytes)] if head_only else wire)
            await writer.drain()
            return True
        if isinstance(reply, SseReply):
            await _send_sse(writer, reply)
            return True
        if isinstance(reply, Hang):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), min(reply.seconds, self._max_hang))
            writer.transport.abort()
            return False
        data = reply.reply.wire[: reply.nbytes] if reply.reply is not None else b""
        if data:
            writer.write(data)
            await writer.drain()
        writer.transport.abort()
        return False


async def _send_sse(writer: asyncio.StreamWriter, reply: SseReply) -> None:
    if reply.delay:
        await asyncio.sleep(reply.delay)
    writer.write(reply.head)
    delays = reply.delays()
    # PERF(upstream): with no delays the stream goes out in one write.
    paced = any(delays)
    for delay, chunk in zip(delays, reply.framed(), strict=True):
        if paced:
            await writer.drain()
            if delay:
                await asyncio.sleep(delay)
        writer.write(chunk)
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def _read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn_id: int
) -> RecordedRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    request_line, *lines = head[:-4].decode("latin-1").split("\r\n")
    method, target, _version = request_line.split(" ", 2)
    headers = tuple(_split_header(line) for line in lines if line)
    body = await _read_body(reader, writer, headers)
    path, _, query = target.partition("?")
    return RecordedRequest(method, path, query, headers, body, conn_id)


def _split_header(line: str) -> tuple[str, str]:
    name, _, value = line.partition(":")
    return name.strip(), value.strip()


async def _read_body(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: Headers
) -> bytes:
    if (_lookup(headers, "expect") or "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in (_lookup(headers, "transfer-encoding") or "").lower():
        return await _read_chunked(reader)
    length = int(_lookup(headers, "content-length") or 0)
    return await reader.readexactly(length) if length else b""


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailer fields are ignored
            return b"".join(parts)
        parts.append((await reader.readexactly(size + 2))[:-2])


# --------------------------------------------------------------------------
# Canned vendor payloads
# --------------------------------------------------------------------------


def _claude_usage(
    input_tokens: int, output_tokens: int, cache_creation: int, cache_read: int
) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": cache_creation,
        "cache_read_input_tokens": cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": cache_creation,
            "ephemeral_1h_input_tokens": 0,
        },
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def messages_json(
    *,
    text: str = _DEFAULT_TEXT,
    model: str = DEFAULT_CLAUDE_MODEL,
    message_id: str = "msg_01XFDUDYJgAACzvnptvVoYEL",
    input_tokens: int = 2095,
    output_tokens: int = 187,
    cache_creation_input_tokens: int = 1024,
    cache_read_input_tokens: int = 20480,
    stop_reason: str = "end_turn",
) -> dict[str, Any]:
    """Return an Anthropic Messages response body (about 600 bytes)."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": _claude_usage(
            input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens
        ),
    }


def messages_json_reply(
    *, status: int = 200, headers: HeadersIn = (), delay: float = 0.0, **fields: Any
) -> JsonReply:
    """Return a `JsonReply` carrying `messages_json(**fields)`."""
    extra = _with_default(_normalize_headers(headers), "request-id", "req_011CUmX7fake")
    return JsonReply(messages_json(**fields), status=status, headers=extra, delay=delay)


def _split_text(text: str, parts: int) -> list[str]:
    if parts <= 1:
        return [text]
    step = max(1, -(-len(text) // parts))
    pieces = [text[i : i + step] for i in range(0, len(text), step)]
    return pieces + [""] * (parts - len(pieces))


def messages_sse_events(
    *,
    deltas: int | Sequence[str] = 5,
    model: str = DEFAULT_CLAUDE_MODEL,
    message_id: str = "msg_01XFDUDYJgAACzvnptvVoYEL",
    input_tokens: int = 2095,
    output_tokens: int = 187,
    cache_creation_input_tokens: int = 1024,
    cache_read_input_tokens: int = 20480,
    ping: bool = True,
    stop_reason: str = "end_turn",
) -> list[SseEvent]:
    """Return an Anthropic Messages event stream.

    message_start, content_block_start, [ping], N content_block_delta,
    content_block_stop, message_delta (with usage), message_stop.

    Args:
        deltas: Number of text deltas, or the delta texts themselves.
        model: Model reported in message_start.
        message_id: Message id reported in message_start.
        input_tokens: Input tokens in both usage blocks.
        output_tokens: Final output tokens in message_delta.
        cache_creation_input_tokens: Cache-write tokens.
        cache_read_input_tokens: Cache-read tokens.
        ping: Whether to send a ping after content_block_start.
        stop_reason: Stop reason in message_delta.
    """
    texts = list(deltas) if not isinstance(deltas, int) else _split_text(_DEFAULT_TEXT, deltas)
    cache = (cache_creation_input_tokens, cache_read_input_tokens)
    start_usage = _claude_usage(input_tokens, 1, *cache)
    message = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    events = [
        SseEvent({"type": "message_start", "message": message}, "message_start"),
        SseEvent(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            "content_block_start",
        ),
    ]
    if ping:
        events.append(SseEvent({"type": "ping"}, "ping"))
    events.extend(
        SseEvent(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": piece},
            },
            "content_block_delta",
        )
        for piece in texts
    )
    final_usage = _claude_usage(input_tokens, output_tokens, *cache)
    del final_usage["cache_creation"], final_usage["service_tier"]
    events += [
        SseEvent({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        SseEvent(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": final_usage,
            },
            "message_delta",
        ),
        SseEvent({"type": "message_stop"}, "message_stop"),
    ]
    return events


def messages_sse_reply(
    *,
    status: int = 200,
    headers: HeadersIn = (),
    delay: float = 0.0,
    event_delay: float = 0.0,
    **fields: Any,
) -> SseReply:
    """Return an `SseReply` carrying `messages_sse_events(**fields)`."""
    extra = _with_default(_normalize_headers(headers), "request-id", "req_011CUmX7fake")
    return SseReply(
        messages_sse_events(**fields),
        status=status,
        headers=extra,
        delay=delay,
        event_delay=event_delay,
    )


def _responses_usage(input_tokens: int, cached: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def _responses_message(item_id: str, text: str, status: str) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": []}] if text else []
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def responses_json(
    *,
    text: str = _DEFAULT_TEXT,
    model: str = DEFAULT_OPENAI_MODEL,
    response_id: str = "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
    item_id: str = "msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b",
    input_tokens: int = 1820,
    cached_tokens: int = 1536,
    output_tokens: int = 96,
    status: str = "completed",
) -> dict[str, Any]:
    """Return an OpenAI Responses API response body."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": 1741476542,
        "status": status,
        "model": model,
        "output": [_responses_message(item_id, text, "completed")],
        "usage": _responses_usage(input_tokens, cached_tokens, output_tokens),
    }


def responses_json_reply(
    *, status: int = 200, headers: HeadersIn = (), delay: float = 0.0, **fields: Any
) -> JsonReply:
    """Return a `JsonReply` carrying `responses_json(**fields)`."""
    extra = _with_default(_normalize_headers(headers), "x-request-id", "req_fake_responses")
    return JsonReply(responses_json(**fields), status=status, headers=extra, delay=delay)


def responses_sse_events(
    *,
    deltas: int | Sequence[str] = 5,
    model: str = DEFAULT_OPENAI_MODEL,
    input_tokens: int = 1820,
    cached_tokens: int = 1536,
    output_tokens: int = 96,
) -> list[SseEvent]:
    """Return an OpenAI Responses event stream.

    response.created, response.in_progress, output_item.added,
    content_part.added, N output_text.delta, output_text.done,
    content_part.done, output_item.done, response.completed (with usage
    incl. input_tokens_details.cached_tokens).

    Args:
        deltas: Number of text deltas, or the delta texts themselves.
        model: Model reported in the response objects.
        input_tokens: Input tokens in the final usage.
        cached_tokens: Cached input tokens in the final usage.
        output_tokens: Output tokens in the final usage.
    """
    texts = list(deltas) if not isinstance(deltas, int) else _split_text(_DEFAULT_TEXT, deltas)
    full = responses_json(
        text="".join(texts),
        model=model,
        input_tokens=input_tokens,
        cached_tokens=cached_tokens,
        output_tokens=output_tokens,
    )
    item_id = full["output"][0]["id"]
    pending = {**full, "status": "in_progress", "output": [], "usage": None}
    loc = {"item_id": item_id, "output_index": 0, "content_index": 0}
    part = {"type": "output_text", "text": "", "annotations": []}
    bodies: list[dict[str, Any]] = [
        {"type": "response.created", "response": pending},
        {"type": "response.in_progress", "response": pending},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": _responses_message(item_id, "", "in_progress"),
        },
        {"type": "response.content_part.added", **loc, "part": part},
        *({"type": "response.output_text.delta", **loc, "delta": t} for t in texts),
        {"type": "response.output_text.done", **loc, "text": "".join(texts)},
        {"type": "response.content_part.done", **loc, "part": {**part, "text": "".join(texts)}},
        {"type": "response.output_item.done", "output_index": 0, "item": full["output"][0]},
        {"type": "response.completed", "response": full},
    ]
    return [
        SseEvent({**body, "sequence_number": seq}, body["type"]) for seq, body in enumerate(bodies)
    ]


def responses_sse_reply(
    *,
    status: int = 200,
    headers: HeadersIn = (),
    delay: float = 0.0,
    event_delay: float = 0.0,
    **fields: Any,
) -> SseReply:
    """Return an `SseReply` carrying `responses_sse_events(**fields)`."""
    extra = _with_default(_normalize_headers(headers), "x-request-id", "req_fake_responses")
    return SseReply(
        responses_sse_events(**fields),
        status=status,
        headers=extra,
        delay=delay,
        event_delay=event_delay,
    )


def anthropic_error(
    status: int = 529, error_type: str = "overloaded_error", message: str = "Overloaded"
) -> JsonReply:
    """Return an Anthropic-shaped error reply (401, 429, 500, 529...)."""
    body = {"type": "error", "error": {"type": error_type, "message": message}}
    return JsonReply(body, status=status, headers={"request-id": "req_011CUmX7error"})


def openai_error(
    status: int = 429,
    message: str = "Rate limit reached",
    error_type: str = "rate_limit_error",
    code: str | None = None,
) -> JsonReply:
    """Return an OpenAI-shaped error reply."""
    error = {"message": message, "type": error_type, "param": None, "code": code}
    return JsonReply({"error": error}, status=status)


def resource_exhausted_error(
    reason: str | None = "QUOTA_EXHAUSTED",
    message: str = "Resource has been exhausted (e.g. check quota).",
    status: int = 429,
) -> JsonReply:
    """Return a Google-style RESOURCE_EXHAUSTED reply.

    Args:
        reason: ErrorInfo reason detail, e.g. ``QUOTA_EXHAUSTED``; None
            sends no details (a plain RESOURCE_EXHAUSTED).
        message: Error message.
        status: HTTP status code.
    """
    error: dict[str, Any] = {"code": status, "message": message, "status": "RESOURCE_EXHAUSTED"}
    if reason is not None:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
            }
        ]
    return JsonReply({"error": error}, status=status)


# --------------------------------------------------------------------------
# Standalone process
# --------------------------------------------------------------------------

_MODES: dict[str, Callable[[argparse.Namespace], Reply]] = {
    "messages-json": lambda a: messages_json_reply(),
    "messages-sse": lambda a: messages_sse_reply(deltas=a.deltas, event_delay=a.event_delay),
    "responses-json": lambda a: responses_json_reply(),
    "responses-sse": lambda a: responses_sse_reply(deltas=a.deltas, event_delay=a.event_delay),
}


def _loopback_host(value: str) -> str:
    if value == "localhost" or ipaddress.ip_address(value).is_loopback:
        return value
    raise argparse.ArgumentTypeError("the fake upstream binds loopback addresses only")


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.upstream", description="Fake LLM upstream on loopback."
    )
    parser.add_argument("--host", type=_loopback_host, default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--mode", choices=sorted(_MODES), default="messages-json")
    parser.add_argument("--deltas", type=int, default=10, help="text deltas per SSE reply")
    parser.add_argument("--event-delay", type=float, default=0.0, help="seconds per event")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="exit after this")
    parser.add_argument("--record", type=int, default=0, help="requests kept in memory")
    return parser.parse_args(argv)


async def _serve_forever(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    upstream = FakeUpstream(
        default=_MODES[args.mode](args), host=args.host, port=args.port, max_records=args.record
    )
    async with upstream:
        print(f"READY {upstream.url}", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.max_seconds)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake upstream until SIGTERM/SIGINT or --max-seconds."""
    args = _parse_args(argv)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_serve_forever(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())


# --------------------------------------------------------------------------
# Checking fakes of the APIs the converters speak (Chat, Gemini, Responses)
# --------------------------------------------------------------------------
#
# Each is a responder: it checks the request the way the vendor would
# (required fields, role order, every tool result answering a call made
# before it) and answers 422 naming the first problem, so a malformed
# conversion fails the test that sent it. A request offering tools whose
# last turn is not a tool result is answered with a call of the first tool
# (`FAKE_TOOL_ARGS`); otherwise with text saying what it saw
# (`FAKE_SAW_IMAGE` when the last user turn held an image).

FAKE_TOOL_ARGS: dict[str, Any] = {"path": "src/app.py"}
FAKE_SAW_IMAGE = "I see a small image."
FAKE_THOUGHT = "Thinking about the window bounds."


class RequestProblem(ValueError):
    """A request a real upstream would refuse."""


def _need(cond: bool, problem: str) -> None:
    if not cond:
        raise RequestProblem(problem)


def _problem_reply(ex: RequestProblem) -> JsonReply:
    error = {"message": f"fake upstream refused: {ex}", "type": "invalid_request_error"}
    return JsonReply({"error": error}, status=422)


def _checked(check: Callable[[RecordedRequest], Reply]) -> Responder:
    def responder(request: RecordedRequest) -> Reply:
        try:
            return check(request)
        except RequestProblem as ex:
            return _problem_reply(ex)

    return responder


def _sse(bodies: Iterable[Any], done: bool = False) -> SseReply:
    events: list[SseEvent] = [SseEvent(body) for body in bodies]
    if done:
        events.append(SseEvent("[DONE]"))
    return SseReply(events)


def _chat_check(req: RecordedRequest) -> tuple[dict[str, Any], bool, bool]:
    """Return the body, whether to call a tool, whether an image was seen."""
    _need(req.path.endswith("/chat/completions"), f"path {req.path}")
    _need((req.header("authorization") or "").startswith("Bearer "), "no Bearer auth")
    body = req.json()
    _need(isinstance(body.get("model"), str) and body["model"] != "", "model missing")
    messages = body.get("messages")
    _need(isinstance(messages, list) and len(messages) > 0, "messages missing")
    open_calls: set[str] = set()
    seen_other = False
    image = False
    for i, msg in enumerate(messages):
        role = msg.get("role")
        _need(role in {"system", "developer", "user", "assistant", "tool"}, f"role {role!r}")
        if role in {"system", "developer"}:
            _need(not seen_other, f"system message at {i} after the conversation began")
            continue
        seen_other = True
        if role == "tool":
            call_id = msg.get("tool_call_id")
            _need(call_id in open_calls, f"tool result {call_id!r} answers no open call")
            open_calls.discard(call_id)
            continue
        _need(not open_calls, f"message {i} ({role}) before tool calls {open_calls} answered")
        for call in msg.get("tool_calls") or ():
            _need(role == "assistant", "tool_calls on a non-assistant message")
            _need(call.get("type") == "function", "tool call type")
            fn = call.get("function") or {}
            _need(isinstance(fn.get("name"), str), "tool call name")
            json.loads(fn.get("arguments") or "")  # must be a JSON string
            open_calls.add(call["id"])
        content = msg.get("content")
        if isinstance(content, list):
            for part in content:
                kind = part.get("type")
                _need(kind in {"text", "image_url"}, f"content part {kind!r}")
                if kind == "image_url":
                    url = (part.get("image_url") or {}).get("url", "")
                    _need(url.startswith("data:image/"), "image_url is no data URL")
                    image = True
        elif role != "assistant":
            _need(isinstance(content, str) and content != "", f"message {i} has no content")
    _need(not open_calls, f"tool calls {open_calls} never answered")
    for tool in body.get("tools") or ():
        _need(tool.get("type") == "function", "tool type")
        _need(isinstance((tool.get("function") or {}).get("name"), str), "tool name")
    last = messages[-1]["role"]
    call_tool = bool(body.get("tools")) and last != "tool"
    return body, call_tool, image and last == "user"


def _chat_reply(req: RecordedRequest) -> Reply:
    body, call_tool, image = _chat_check(req)
    model = body["model"]
    usage = {
        "prompt_tokens": 1200,
        "completion_tokens": 40,
        "total_tokens": 1240,
        "prompt_tokens_details": {"cached_tokens": 1000},
    }
    text = FAKE_SAW_IMAGE if image else _DEFAULT_TEXT
    name = body["tools"][0]["function"]["name"] if call_tool else ""
    call = {
        "id": "call_fake_1",
        "type": "function",
        "function": {"name": name, "arguments": _dumps(FAKE_TOOL_ARGS)},
    }
    finish = "tool_calls" if call_tool else "stop"
    base = {"id": "chatcmpl-fake", "created": 1741476542, "model": model}
    if not body.get("stream"):
        message: dict[str, Any] = {"role": "assistant", "content": None if call_tool else text}
        if call_tool:
            message["tool_calls"] = [call]
        if body.get("reasoning_effort"):
            message["reasoning_content"] = FAKE_THOUGHT
        choice = {"index": 0, "message": message, "finish_reason": finish}
        return JsonReply({**base, "object": "chat.completion", "choices": [choice], "usage": usage})
    _need((body.get("stream_options") or {}).get("include_usage") is True, "include_usage missing")
    chunk = {**base, "object": "chat.completion.chunk"}

    def delta(d: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {**chunk, "choices": [{"index": 0, "delta": d, "finish_reason": finish_reason}]}

    bodies = [delta({"role": "assistant", "content": ""})]
    if body.get("reasoning_effort"):
        bodies.append(delta({"reasoning_content": FAKE_THOUGHT}))
    if call_tool:
        args = _dumps(FAKE_TOOL_ARGS)
        first = {**call, "index": 0, "function": {"name": name, "arguments": args[:5]}}
        bodies.append(delta({"tool_calls": [first]}))
        bodies.append(delta({"tool_calls": [{"index": 0, "function": {"arguments": args[5:]}}]}))
    else:
        bodies.extend(delta({"content": t}) for t in _split_text(text, 4))
    bodies.append(delta({}, finish))
    bodies.append({**chunk, "choices": [], "usage": usage})
    return _sse(bodies, done=True)


chat_responder: Responder = _checked(_chat_reply)
"""An OpenAI Chat Completions upstream that checks what it receives."""


def _gemini_check(req: RecordedRequest) -> tuple[dict[str, Any], bool, bool, bool]:
    """Return the body and whether to call a tool, saw an image, streams."""
    _need(req.header("x-goog-api-key") is not None, "no x-goog-api-key")
    _need(req.header("authorization") is None, "Authorization sent to Gemini")
    name, _, action = req.path.rpartition("/")[2].partition(":")
    _need(req.path.startswith("/models/") and name != "", f"path {req.path}")
    _need(action in {"generateContent", "streamGenerateContent"}, f"action {action!r}")
    stream = action == "streamGenerateContent"
    _need(not stream or req.query == "alt=sse", f"stream query {req.query!r}")
    body = req.json()
    contents = body.get("contents")
    _need(isinstance(contents, list) and len(contents) > 0, "contents missing")
    _need(contents[0].get("role") == "user", "contents must start with a user turn")
    system = body.get("systemInstruction")
    if system is not None:
        _need(all("text" in p for p in system.get("parts", ())), "systemInstruction parts")
    pending: list[str] = []
    image = False
    for i, turn in enumerate(contents):
        role = turn.get("role")
        _need(role in {"user", "model"}, f"role {role!r}")
        if i:
            _need(role != contents[i - 1]["role"], f"turn {i} repeats role {role}")
        parts = turn.get("parts")
        _need(isinstance(parts, list) and len(parts) > 0, f"turn {i} has no parts")
        answers = [p["functionResponse"] for p in parts if "functionResponse" in p]
        if pending:
            _need(role == "user", "function calls not answered by the next user turn")
            _need(
                sorted(a.get("name") for a in answers) == sorted(pending),
                f"functionResponse names {[a.get('name') for a in answers]} != calls {pending}",
            )
        else:
            _need(not answers, "functionResponse without a call")
        pending = []
        for part in parts:
            keys = set(part) - {"thought", "thoughtSignature"}
            _need(len(keys) == 1, f"part with fields {sorted(part)}")
            if "functionCall" in part:
                _need(role == "model", "functionCall in a user turn")
                _need(isinstance(part["functionCall"].get("args"), dict), "functionCall args")
                pending.append(part["functionCall"]["name"])
            if "inlineData" in part:
                data = part["inlineData"]
                _need(data.get("mimeType", "").startswith("image/"), "inlineData mimeType")
                _need(bool(data.get("data")), "inlineData data")
                image = True
    _need(not pending, "function calls never answered")
    tools = [d for t in body.get("tools") or () for d in t.get("functionDeclarations") or ()]
    for decl in tools:
        _need(isinstance(decl.get("name"), str), "functionDeclaration name")
    last = contents[-1]
    answered = any("functionResponse" in p for p in last["parts"])
    return body, bool(tools) and not answered, image and not answered, stream


def _gemini_reply(req: RecordedRequest) -> Reply:
    body, call_tool, image, stream = _gemini_check(req)
    thinking = bool((body.get("generationConfig") or {}).get("thinkingConfig") or {})
    usage = {
        "promptTokenCount": 1200,
        "cachedContentTokenCount": 1000,
        "candidatesTokenCount": 40,
        "thoughtsTokenCount": 8 if thinking else 0,
        "totalTokenCount": 1248 if thinking else 1240,
    }
    model = "gemini-2.5-pro"
    parts: list[dict[str, Any]] = []
    if thinking:
        parts.append({"text": FAKE_THOUGHT, "thought": True})
    if call_tool:
        decl = body["tools"][0]["functionDeclarations"][0]
        call = {"functionCall": {"name": decl["name"], "args": FAKE_TOOL_ARGS}}
        parts.append({**call, "thoughtSignature": "c2lnbmF0dXJl"})
    else:
        parts.append({"text": FAKE_SAW_IMAGE if image else _DEFAULT_TEXT})

    def response(ps: list[dict[str, Any]], finish: str | None, meta: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": ps}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        out: dict[str, Any] = {"candidates": [candidate], "modelVersion": model}
        if meta:
            out["usageMetadata"] = usage
        return out

    if not stream:
        return JsonReply(response(parts, "STOP", True))
    bodies = [response([p], None, False) for p in parts[:-1]]
    last = parts[-1]
    if "text" in last:
        pieces = _split_text(last["text"], 3)
        bodies += [response([{"text": t}], None, False) for t in pieces[:-1]]
        last = {"text": pieces[-1]}
    bodies.append(response([last], "STOP", True))
    return _sse(bodies)


gemini_responder: Responder = _checked(_gemini_reply)
"""A Gemini generateContent upstream that checks what it receives."""


def _responses_check(req: RecordedRequest) -> tuple[dict[str, Any], bool, bool]:
    _need(req.path.endswith("/responses"), f"path {req.path}")
    _need((req.header("authorization") or "").startswith("Bearer "), "no Bearer auth")
    body = req.json()
    _need(isinstance(body.get("model"), str) and body["model"] != "", "model missing")
    items = body.get("input")
    _need(isinstance(items, list) and len(items) > 0, "input missing")
    _need("instructions" not in body or isinstance(body["instructions"], str), "instructions")
    calls: set[str] = set()
    answered: set[str] = set()
    image = False
    for i, item in enumerate(items):
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            _need(role in {"user", "assistant", "system", "developer"}, f"role {role!r}")
            content = item.get("content")
            if isinstance(content, list):
                allowed = {"output_text", "refusal"} if role == "assistant" else None
                for part in content:
                    ptype = part.get("type")
                    if allowed is not None:
                        _need(ptype in allowed, f"assistant part {ptype!r}")
                    else:
                        _need(ptype in {"input_text", "input_image", "input_file"}, f"{ptype!r}")
                    if ptype == "input_image":
                        _need(part.get("image_url", "").startswith("data:image/"), "image_url")
                        image = True
            else:
                _need(isinstance(content, str), f"item {i} content")
        elif kind == "function_call":
            _need(isinstance(item.get("call_id"), str), "function_call call_id")
            json.loads(item.get("arguments") or "")
            calls.add(item["call_id"])
        elif kind == "function_call_output":
            _need(item.get("call_id") in calls, f"output for unknown call {item.get('call_id')}")
            answered.add(item["call_id"])
        elif kind == "reasoning":
            _need(isinstance(item.get("summary"), list), "reasoning summary")
        else:
            raise RequestProblem(f"input item type {kind!r}")
    _need(calls == answered, f"calls {calls - answered} never answered")
    last = items[-1].get("type", "message")
    tools = body.get("tools") or ()
    for tool in tools:
        _need(tool.get("type") == "function" and isinstance(tool.get("name"), str), "tool")
    return body, bool(tools) and last != "function_call_output", image and last == "message"


def _responses_reply(req: RecordedRequest) -> Reply:
    body, call_tool, image = _responses_check(req)
    model = body["model"]
    text = FAKE_SAW_IMAGE if image else _DEFAULT_TEXT
    if not call_tool:
        if body.get("stream"):
            return responses_sse_reply(deltas=_split_text(text, 4), model=model)
        return responses_json_reply(text=text, model=model)
    item = {
        "id": "fc_fake_1",
        "type": "function_call",
        "status": "completed",
        "call_id": "call_fake_1",
        "name": body["tools"][0]["name"],
        "arguments": _dumps(FAKE_TOOL_ARGS),
    }
    full = {**responses_json(model=model), "output": [item]}
    if not body.get("stream"):
        return JsonReply(full)
    pending = {**full, "status": "in_progress", "output": [], "usage": None}
    loc = {"item_id": item["id"], "output_index": 0}
    bodies = [
        {"type": "response.created", "response": pending},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {**item, "arguments": ""},
        },
        {"type": "response.function_call_arguments.delta", **loc, "delta": item["arguments"]},
        {"type": "response.function_call_arguments.done", **loc, "arguments": item["arguments"]},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": full},
    ]
    return SseReply(
        [SseEvent({**b, "sequence_number": n}, b["type"]) for n, b in enumerate(bodies)]
    )


responses_responder: Responder = _checked(_responses_reply)
"""An OpenAI Responses upstream that checks what it receives."""


def chat_json_reply(*, text: str = _DEFAULT_TEXT, model: str = DEFAULT_OPENAI_MODEL) -> JsonReply:
    """Return a fixed Chat Completions answer (usage with cached tokens)."""
    message = {"role": "assistant", "content": text}
    return JsonReply(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1741476542,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": 1820,
                "completion_tokens": 96,
                "total_tokens": 1916,
                "prompt_tokens_details": {"cached_tokens": 1536},
            },
        }
    )


def chat_sse_reply(*, deltas: int = 5, model: str = DEFAULT_OPENAI_MODEL) -> SseReply:
    """Return a fixed Chat Completions stream: role, N text deltas, finish, usage, [DONE]."""
    chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1741476542}
    chunk["model"] = model

    def delta(d: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**chunk, "choices": [{"index": 0, "delta": d, "finish_reason": finish}]}

    bodies = [delta({"role": "assistant", "content": ""})]
    bodies += [delta({"content": t}) for t in _split_text(_DEFAULT_TEXT, deltas)]
    bodies.append(delta({}, "stop"))
    usage = chat_json_reply().body["usage"]
    bodies.append({**chunk, "choices": [], "usage": usage})
    return _sse(bodies, done=True)


_TRIGGER_LINE = re.compile(r"To call a tool, write the line (<<CALL_[a-z0-9]{12}>>) and then")


def _emulated_reply(req: RecordedRequest) -> Reply:
    """Answer an ``openai_chat`` request: tools live in the prompt, not in ``tools``."""
    body, _, _ = _chat_check(req)
    _need("tools" not in body and "tool_choice" not in body, "native tools sent")
    messages = body["messages"]
    system = "\n".join(m["content"] for m in messages if m["role"] == "system")
    found = _TRIGGER_LINE.search(system)  # no tools offered: no prompt
    trigger = found.group(1) if found is not None else ""
    for i, msg in enumerate(messages):
        _need(msg["role"] in {"system", "user", "assistant"}, f"role {msg['role']!r}")
        content = msg.get("content")
        if msg["role"] != "system" and "<tool_result" in (content or ""):
            _need(bool(trigger), "a tool result without the tool prompt")
            _need(msg["role"] == "user", "tool result outside a user turn")
            _need(trigger in (messages[i - 1].get("content") or ""), "result of no call")
    last = messages[-1]
    _need(last["role"] == "user", "the conversation must end with a user turn")
    if not trigger or "<tool_result" in last["content"]:
        text = _DEFAULT_TEXT
    else:
        path = FAKE_TOOL_ARGS["path"]
        text = (
            f'Let me look.\n{trigger}\n<invoke name="read_file">\n'
            f'<parameter name="path">{path}</parameter>\n</invoke>'
        )
    if not body.get("stream"):
        return JsonReply({**chat_json_reply(text=text, model=body["model"]).body})
    reply = chat_sse_reply(deltas=1, model=body["model"])
    chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": body["model"]}
    pieces = [text[i : i + 7] for i in range(0, len(text), 7)]  # the trigger split, too
    events = [
        SseEvent({**chunk, "choices": [{"index": 0, "delta": {"content": p}}]}) for p in pieces
    ]
    head, tail = reply.events[:1], reply.events[2:]
    return SseReply([*head, *events, *tail])


chat_emulated_responder: Responder = _checked(_emulated_reply)
"""An ``openai_chat`` upstream: checks the tool prompt and answers calls as text."""


def _messages_check(req: RecordedRequest) -> tuple[dict[str, Any], bool, bool]:
    """Return the body, whether to call a tool, whether an image was seen."""
    _need(req.path == "/v1/messages", f"path {req.path}")
    _need(bool(req.header("x-api-key") or req.header("authorization")), "no credentials")
    _need(req.header("anthropic-version") is not None, "no anthropic-version")
    body = req.json()
    _need(isinstance(body.get("model"), str) and body["model"] != "", "model missing")
    _need(isinstance(body.get("max_tokens"), int) and body["max_tokens"] > 0, "max_tokens")
    messages = body.get("messages")
    _need(isinstance(messages, list) and len(messages) > 0, "messages missing")
    _need(messages[0].get("role") == "user", "first message is not the user's")
    open_calls: set[str] = set()
    image = False
    previous = ""
    for i, msg in enumerate(messages):
        role = msg.get("role")
        _need(role in {"user", "assistant"}, f"role {role!r}")
        _need(role != previous, f"message {i}: two {role} turns in a row")
        previous = role
        content = msg.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        _need(isinstance(blocks, list) and len(blocks) > 0, f"message {i} has no content")
        answered = {b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"}
        _need(answered == open_calls, f"message {i}: calls {open_calls} answered by {answered}")
        open_calls = set()
        for block in blocks:
            kind = block.get("type")
            _need(
                kind in {"text", "image", "tool_use", "tool_result", "thinking"},
                f"block {kind!r}",
            )
            if kind == "tool_use":
                _need(role == "assistant", "tool_use from the user")
                _need(isinstance(block.get("input"), dict), "tool_use input is no object")
                open_calls.add(block["id"])
            if kind == "image":
                _need((block.get("source") or {}).get("type") == "base64", "image source")
                image = True
    _need(not open_calls, f"tool calls {open_calls} never answered")
    for tool in body.get("tools") or ():
        _need(isinstance(tool.get("name"), str), "tool name")
        _need(isinstance(tool.get("input_schema"), dict), "tool input_schema")
    last = messages[-1]
    last_blocks = last["content"] if isinstance(last["content"], list) else []
    tool_turn = any(b.get("type") == "tool_result" for b in last_blocks)
    return body, bool(body.get("tools")) and not tool_turn, image and not tool_turn


def _messages_reply(req: RecordedRequest) -> Reply:
    body, call_tool, image = _messages_check(req)
    model = body["model"]
    if not call_tool:
        text = FAKE_SAW_IMAGE if image else _DEFAULT_TEXT
        if body.get("stream"):
            return SseReply(messages_sse_events(model=model, deltas=_split_text(text, 4)))
        return JsonReply(messages_json(model=model, text=text))
    name = body["tools"][0]["name"]
    use = {"type": "tool_use", "id": "toolu_fake_1", "name": name, "input": FAKE_TOOL_ARGS}
    if not body.get("stream"):
        reply = messages_json(model=model, stop_reason="tool_use")
        reply["content"] = [use]
        return JsonReply(reply)
    events = messages_sse_events(model=model, deltas=[], stop_reason="tool_use")
    start = {**use, "input": {}}
    args = _dumps(FAKE_TOOL_ARGS)
    events[1] = SseEvent(
        {"type": "content_block_start", "index": 0, "content_block": start}, "content_block_start"
    )
    deltas = [
        SseEvent(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": part},
            },
            "content_block_delta",
        )
        for part in (args[:5], args[5:])
    ]
    stop = next(i for i, e in enumerate(events) if e.event == "content_block_stop")
    return SseReply(events[:stop] + deltas + events[stop:])


messages_responder: Responder = _checked(_messages_reply)
"""An Anthropic Messages upstream that checks what it receives."""
