"""Token usage, first-token time and stream errors from upstream answers.

:class:`SseUsageTap` watches an SSE byte stream while it is relayed: it is
fed the very chunks sent to the client (never modifying them), keeps only
the unfinished tail of the current event, and JSON-parses just the events
that carry usage, errors or the first content token.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from ccbridge.proxy import jsonread

__all__ = (
    "SseUsageTap",
    "StreamProtocol",
    "Usage",
    "UsageReport",
    "claude_usage",
    "openai_usage",
    "protocol_for_service_type",
    "usage_from_json",
)

_TYPE_RE: Final = re.compile(rb'"type"\s*:\s*"([^"\\]{1,64})"')
_USAGE_OBJECT_RE: Final = re.compile(rb'"usage"\s*:\s*\{')
_SNIFF_WINDOW: Final = 256
_DONE: Final = b"[DONE]"
_DEFAULT_MAX_BUFFER: Final = 32 << 20

_CLAUDE_TYPES: Final = frozenset(
    {
        "message_start",
        "message_delta",
        "message_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "ping",
        "error",
    }
)
_OPENAI_TYPES: Final = frozenset({"error"})
# Claude events decided by name: value says whether they are output.
_CLAUDE_BY_NAME: Final = {
    b"content_block_delta": True,
    b"content_block_start": True,
    b"content_block_stop": True,
    b"ping": False,
}
_RESPONSES_TEXT: Final = frozenset({"response.output_text.delta", "response.output_text.done"})
_RESPONSES_FINAL: Final = frozenset(
    {"response.completed", "response.done", "response.incomplete", "response.failed"}
)

_RESPONSES_TEXT_BYTES: Final = frozenset(t.encode() for t in _RESPONSES_TEXT)
_RESPONSES_FINAL_BYTES: Final = frozenset(t.encode() for t in _RESPONSES_FINAL)


class StreamProtocol(StrEnum):
    """Wire format whose usage the tap understands."""

    CLAUDE = "claude"
    OPENAI = "openai"  # Responses API and Chat Completions
    GEMINI = "gemini"  # generateContent / streamGenerateContent (usageMetadata)


_PROTOCOLS: Final = {
    "claude": StreamProtocol.CLAUDE,
    "responses": StreamProtocol.OPENAI,
    "openai-oauth": StreamProtocol.OPENAI,
    "openai_chat": StreamProtocol.OPENAI,
}


def _event_heads(*names: str) -> tuple[bytes, ...]:
    return tuple(f"event:{space}{name}\n".encode() for name in names for space in (" ", ""))


# PERF(proxy): events that only mark output or the first token, most of a
# stream; once both are seen the tap skips them by their first line.
_ROUTINE_EVENTS: Final = {
    StreamProtocol.CLAUDE: _event_heads(*(name.decode() for name in _CLAUDE_BY_NAME)),
    StreamProtocol.OPENAI: _event_heads(
        *_RESPONSES_TEXT,
        "response.function_call_arguments.delta",
        "response.reasoning_summary_text.delta",
    ),
    StreamProtocol.GEMINI: (),
}


def protocol_for_service_type(service_type: str) -> StreamProtocol | None:
    """Return the usage protocol of a channel type (None: no usage)."""
    return _PROTOCOLS.get(service_type.strip().lower())


# PERF(proxy): Usage and UsageReport are made per request; a frozen dataclass's __init__
# costs about 4x a plain one.
@dataclass(slots=True)
class Usage:
    """Token counts as the request log stores them."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Return input + output, the logged total."""
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class UsageReport:
    """What a response revealed about usage, timing and errors.

    Attributes:
        usage: Token counts.
        model: The model the upstream reported, or "".
        first_token_at: Clock time of the first content token, else of the
            first SSE payload; None for non-streaming bodies.
        error_message: Message of an error event/body, or "".
        error_type: Type/code of that error, or "".
        error_before_output: True when the error came before any output.
        output_started: True once content events were seen.
        completed: True when the terminal event (or [DONE]) was seen.
    """

    usage: Usage = field(default_factory=Usage)
    model: str = ""
    first_token_at: float | None = None
    error_message: str = ""
    error_type: str = ""
    error_before_output: bool = False
    output_started: bool = False
    completed: bool = False

    @property
    def has_error(self) -> bool:
        """Return True when an error event or error body was seen."""
        return bool(self.error_message or self.error_type)


def _int(value: object) -> int:
    if type(value) is int:  # the usual case, checked first
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return int(value)


def _dig(node: object, *path: str) -> object:
    for part in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _loads(payload: bytes | bytearray) -> dict[str, Any] | None:
    try:
        obj = jsonread.loads(payload)
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def claude_usage(usage: object) -> Usage:
    """Return a Claude ``usage`` object as :class:`Usage`."""
    if not isinstance(usage, dict):  # parsed JSON: a dict or nothing of use
        return Usage()
    return Usage(
        _int(usage.get("input_tokens")),
        _int(usage.get("output_tokens")),
        _int(usage.get("cache_creation_input_tokens")),
        _int(usage.get("cache_read_input_tokens")),
    )


def openai_usage(obj: Mapping[str, Any]) -> Usage | None:
    """Return usage of a Responses or Chat Completions object.

    Reads ``usage`` or ``response.usage``. Cached prompt tokens become
    cache reads and are removed from input.
    """
    raw = obj.get("usage")
    if not isinstance(raw, Mapping):
        raw = _dig(obj, "response", "usage")
    if not isinstance(raw, Mapping):
        return None
    prompt = raw.get("input_tokens", raw.get("prompt_tokens"))
    completion = raw.get("output_tokens", raw.get("completion_tokens"))
    cached = _int(_dig(raw, "input_tokens_details", "cached_tokens")) or _int(
        _dig(raw, "prompt_tokens_details", "cached_tokens")
    )
    return Usage(
        input_tokens=max(_int(prompt) - cached, 0),
        output_tokens=_int(completion),
        cache_read_tokens=cached,
    )


def gemini_usage(obj: Mapping[str, Any]) -> Usage | None:
    """Return the ``usageMetadata`` of a Gemini response (or stream chunk).

    Cached prompt tokens become cache reads and are removed from input;
    thinking tokens count as output, as Google bills them.
    """
    raw = obj.get("usageMetadata")
    if not isinstance(raw, Mapping):
        return None
    cached = _int(raw.get("cachedContentTokenCount"))
    return Usage(
        input_tokens=max(_int(raw.get("promptTokenCount")) - cached, 0),
        output_tokens=_int(raw.get("candidatesTokenCount")) + _int(raw.get("thoughtsTokenCount")),
        cache_read_tokens=cached,
    )


def _gemini_finished(obj: Mapping[str, Any]) -> bool:
    candidates = obj.get("candidates")
    return isinstance(candidates, list) and any(
        isinstance(c, Mapping) and c.get("finishReason") for c in candidates
    )


def _gemini_has_content(obj: Mapping[str, Any]) -> bool:
    candidates = obj.get("candidates")
    if not isinstance(candidates, list):
        return False
    for candidate in candidates:
        parts = _dig(candidate, "content", "parts")
        if isinstance(parts, list) and any(
            isinstance(p, Mapping) and (p.get("functionCall") or str(p.get("text") or "").strip())
            for p in parts
        ):
            return True
    return False


def _error_fields(obj: Mapping[str, Any]) -> tuple[str, str]:
    err = obj.get("error")
    if isinstance(err, Mapping):
        message = err.get("message")
        kind = err.get("type") or err.get("code")
    else:
        message = err if isinstance(err, str) else obj.get("message")
        kind = obj.get("code") or obj.get("type")
    return (message if isinstance(message, str) else ""), (kind if isinstance(kind, str) else "")


def usage_from_json(body: bytes | bytearray, protocol: StreamProtocol) -> UsageReport:
    """Return usage, model and error of a non-streaming JSON body."""
    obj = _loads(body) if body.lstrip().startswith(b"{") else None
    if obj is None:
        return UsageReport()
    error_message, error_type = "", ""
    if obj.get("error") or obj.get("type") == "error":
        error_message, error_type = _error_fields(obj)
        error_type = error_type or "error"
    if protocol is StreamProtocol.CLAUDE:
        usage = claude_usage(obj.get("usage"))
        model = obj.get("model")
    elif protocol is StreamProtocol.GEMINI:
        usage = gemini_usage(obj) or Usage()
        model = obj.get("modelVersion")
    else:
        usage = openai_usage(obj) or Usage()
        model = obj.get("model") or _dig(obj, "response", "model")
    return UsageReport(
        usage=usage,
        model=model if isinstance(model, str) else "",
        error_message=error_message,
        error_type=error_type,
        error_before_output=bool(error_type),
        completed=not error_type,
    )


def _sniff_type(payload: bytes | bytearray, known: frozenset[str], *, parse: bool) -> str:
    """Return the event type of a payload that came without ``event:``.

    The top-level ``type`` is normally the first key, so a bounded regex
    finds it; with ``parse`` an unrecognised hit falls back to a full parse.
    """
    match = _TYPE_RE.search(payload, 0, _SNIFF_WINDOW)
    if match is not None:
        found = match.group(1).decode("ascii", "replace")
        if found in known or found.startswith("response."):
            return found
    if not parse:
        return ""
    obj = _loads(payload)
    kind = obj.get("type") if obj is not None else None
    return kind if isinstance(kind, str) else ""


def _find_boundary(data: bytes | bytearray, pos: int, has_cr: bool) -> tuple[int, int]:
    """Return (event end, next event start) or (-1, -1) when incomplete."""
    if not has_cr:
        end = data.find(b"\n\n", pos)
        return (end, end + 2) if end != -1 else (-1, -1)
    size = len(data)
    nl = data.find(b"\n", pos)
    while nl != -1:
        nxt = nl + 1
        if nxt < size and data[nxt] == 0x0A:
            return nl, nxt + 1
        if nxt + 1 < size and data[nxt] == 0x0D and data[nxt + 1] == 0x0A:
            return (nl - 1 if nl > 0 and data[nl - 1] == 0x0D else nl), nxt + 2
        nl = data.find(b"\n", nxt)
    return -1, -1


class SseUsageTap:
    """Incremental usage extractor for a relayed SSE stream.

    Feed every chunk in order with :meth:`feed`, call :meth:`finish` at end
    of stream, then read :meth:`report`. Chunks may split lines or events
    anywhere; only the unfinished tail is buffered.
    """

    __slots__ = (
        "_buf",
        "_cache_creation",
        "_cache_read",
        "_clock",
        "_completed",
        "_error_before_output",
        "_error_message",
        "_error_type",
        "_events",
        "_first_payload_at",
        "_first_token_at",
        "_has_cr",
        "_input",
        "_max_buffer",
        "_model",
        "_output",
        "_output_started",
        "_overflowed",
        "_protocol",
        "_scan_from",
        "_skipping",
    )

    def __init__(
        self,
        protocol: StreamProtocol,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_buffer: int = _DEFAULT_MAX_BUFFER,
    ) -> None:
        self._protocol = protocol
        self._clock = clock
        self._max_buffer = max_buffer
        self._buf = bytearray()
        self._scan_from = 0
        self._has_cr = False
        self._input = self._output = self._cache_creation = self._cache_read = 0
        self._model = ""
        self._first_token_at: float | None = None
        self._first_payload_at: float | None = None
        self._error_message = ""
        self._error_type = ""
        self._error_before_output = False
        self._output_started = False
        self._completed = False
        self._overflowed = False
        self._skipping = False
        self._events = 0

    @property
    def events(self) -> int:
        """Return how many events were read, comments not counted.

        Once output began, routine events (deltas, pings) are skipped
        uncounted.
        """
        return self._events

    @property
    def first_token_at(self) -> float | None:
        """Return the first-token time (content, else first payload)."""
        return self._first_token_at if self._first_token_at is not None else self._first_payload_at

    @property
    def output_started(self) -> bool:
        """Return True once content events were seen."""
        return self._output_started

    @property
    def token_seen(self) -> bool:
        """Return True once the first content token was seen."""
        return self._first_token_at is not None

    @property
    def error_message(self) -> str:
        """Return the stream error message, or ""."""
        return self._error_message

    @property
    def has_error(self) -> bool:
        """Return True once an error event was seen."""
        return bool(self._error_message or self._error_type)

    @property
    def overflowed(self) -> bool:
        """Return True if an over-long event was dropped unparsed."""
        return self._overflowed

    def feed(self, chunk: bytes | bytearray) -> None:
        """Inspect the next relayed chunk (it is not modified or kept)."""
        if not chunk:
            return
        # Once a CR shows up the slower CRLF-aware boundary search is used.
        self._has_cr = self._has_cr or chunk.find(b"\r") != -1
        if self._skipping:
            chunk = self._skip_oversized(chunk)
            if not chunk:
                return
        buf = self._buf
        if buf:
            buf += chunk
            end = self._drain(buf, self._scan_from)
            del buf[:end]
        else:
            end = self._drain(chunk, 0)
            if end < len(chunk):
                buf += chunk[end:]
        # Resume the boundary search near the end of what was already seen.
        self._scan_from = max(len(buf) - 3, 0)
        if len(buf) > self._max_buffer:
            # Drop the event; keep a tail to spot a boundary split across chunks.
            del buf[:-3]
            self._scan_from = 0
            self._overflowed = self._skipping = True

    def feed_until_output(self, chunk: bytes, *, token: bool = False) -> int:
        """Feed chunk event by event until output began or an error showed.

        With ``token``, feed until the first content token instead of the
        first output event. Returns how many bytes were fed; the caller
        feeds the rest later, in order, with `feed`. The rest cannot change
        whether an error came before any output, so a relay may send first
        and read it after.
        """
        has_cr = self._has_cr or chunk.find(b"\r") != -1
        pos = 0
        while pos < len(chunk) and not (
            self.has_error or (self._first_token_at is not None if token else self._output_started)
        ):
            _, nxt = _find_boundary(chunk, pos, has_cr)
            end = len(chunk) if nxt == -1 else nxt
            self.feed(chunk[pos:end])
            pos = end
        return pos

    def _skip_oversized(self, chunk: bytes | bytearray) -> bytes | bytearray:
        """Discard bytes up to the end of an over-long event."""
        data = bytes(self._buf) + chunk
        _, nxt = _find_boundary(data, 0, self._has_cr)
        self._buf.clear()
        if nxt == -1:
            self._buf += data[-3:]
            return b""
        self._skipping = False
        return data[nxt:]

    def finish(self) -> None:
        """Process a final event that lacked its trailing blank line."""
        if self._buf.strip() and not self._skipping:
            tail = bytes(self._buf)
            self._event(tail, 0, len(tail.rstrip(b"\r\n")))
        self._buf.clear()
        self._scan_from = 0

    def report(self) -> UsageReport:
        """Return everything extracted so far."""
        return UsageReport(
            usage=Usage(self._input, self._output, self._cache_creation, self._cache_read),
            model=self._model,
            first_token_at=self.first_token_at,
            error_message=self._error_message,
            error_type=self._error_type,
            error_before_output=self._error_before_output,
            output_started=self._output_started,
            completed=self._completed,
        )

    def _drain(self, data: bytes | bytearray, scan_from: int) -> int:
        if not self._has_cr:
            return self._drain_lf(data, scan_from)
        pos = 0
        while True:
            end, nxt = _find_boundary(data, max(pos, scan_from), True)
            if end == -1:
                return pos
            if end > pos:
                self._event(data, pos, end)
            pos = nxt

    def _drain_lf(self, data: bytes | bytearray, scan_from: int) -> int:
        """`_drain` for streams without CR, the usual case, in fewer steps."""
        pos = 0
        find = data.find
        startswith = data.startswith
        routine = self._routine()
        while True:
            end = find(b"\n\n", max(pos, scan_from))
            if end == -1:
                return pos
            if end > pos and not (routine and startswith(routine, pos)):
                self._event(data, pos, end)
                routine = routine or self._routine()
            pos = end + 2

    def _routine(self) -> tuple[bytes, ...]:
        """Return the event heads that change nothing any more (deltas, pings)."""
        if self._first_token_at is None or not self._output_started:
            return ()
        return _ROUTINE_EVENTS[self._protocol]

    def _event(self, data: bytes | bytearray, start: int, end: int) -> None:
        name = ""
        if data.startswith(b"event:", start):
            nl = data.find(b"\n", start, end)
            if nl == -1:
                return  # an event line without data
            raw_name = bytes(data[start + 6 : nl]).strip()
            # PERF(ccbridge): most events are deltas; decide them by name alone.
            if self._first_payload_at is not None and self._by_name(raw_name):
                self._events += 1
                return
            name = raw_name.decode("ascii", "replace")
            start = nl + 1
        elif self._first_token_at is not None and self._protocol is StreamProtocol.OPENAI:
            # PERF(proxy): after the first token a Chat delta holds nothing the
            # tap keeps: only usage, [DONE] and typed objects are read.
            if (
                data.find(b'"usage"', start, end) == -1
                and data.find(b'"type"', start, end) == -1
                and data.find(_DONE, start, end) == -1
            ):
                self._events += 1
                return
        payload = _data_payload(data, start, end)
        if payload is None:
            return
        self._events += 1
        if payload == _DONE:
            self._completed = True
            return
        if self._first_payload_at is None and payload:
            self._first_payload_at = self._clock()
        if self._protocol is StreamProtocol.CLAUDE:
            self._claude_event(name or _sniff_type(payload, _CLAUDE_TYPES, parse=True), payload)
        elif self._protocol is StreamProtocol.GEMINI:
            self._gemini_chunk(payload)
        else:
            self._openai_event(name, payload)

    def _by_name(self, name: bytes) -> bool:
        """Handle an event that needs no payload; False if it needs one."""
        if self._protocol is StreamProtocol.CLAUDE:
            flag = _CLAUDE_BY_NAME.get(name)
            if flag is None:
                return False
            if flag:
                self._output_started = True
            if name == b"content_block_delta":
                self._mark_first_token()
            return True
        if name in _RESPONSES_TEXT_BYTES:
            if self._first_token_at is None:
                return False  # a blank delta is no first token: parse it
            self._output_started = True
            return True
        if not name.startswith(b"response.") or name in _RESPONSES_FINAL_BYTES:
            return False
        if name.startswith((b"response.output_item", b"response.content_part")):
            self._output_started = True
        return True

    def _mark_first_token(self) -> None:
        if self._first_token_at is None:
            self._first_token_at = self._clock()

    def _set_error(self, obj: Mapping[str, Any] | None) -> None:
        message, kind = _error_fields(obj) if obj is not None else ("", "")
        self._error_message = message or self._error_message or "upstream stream error"
        self._error_type = kind or "error"
        self._error_before_output = not self._output_started

    def _claude_event(self, kind: str, payload: bytes | bytearray) -> None:
        if kind == "content_block_delta":
            self._output_started = True
            self._mark_first_token()
        elif kind in ("content_block_start", "content_block_stop"):
            self._output_started = True
        elif kind == "message_start":
            message = _dig(_loads(payload), "message")
            if isinstance(message, Mapping):
                self._claude_start(message)
        elif kind == "message_delta":
            self._claude_delta(_dig(_loads(payload), "usage"))
        elif kind == "message_stop":
            self._completed = True
        elif kind == "error":
            self._set_error(_loads(payload))

    def _claude_start(self, message: Mapping[str, Any]) -> None:
        usage = claude_usage(message.get("usage"))
        self._input, self._output = usage.input_tokens, usage.output_tokens
        self._cache_creation, self._cache_read = (
            usage.cache_creation_tokens,
            usage.cache_read_tokens,
        )
        model = message.get("model")
        if isinstance(model, str) and model:
            self._model = model

    def _claude_delta(self, raw: object) -> None:
        if not isinstance(raw, Mapping):
            return
        usage = claude_usage(raw)
        # Deltas repeat input/cache counts only sometimes; keep non-zero ones.
        if usage.input_tokens > 0:
            self._input = usage.input_tokens
        if usage.cache_creation_tokens > 0:
            self._cache_creation = usage.cache_creation_tokens
        if usage.cache_read_tokens > 0:
            self._cache_read = usage.cache_read_tokens
        if "output_tokens" in raw:
            self._output = usage.output_tokens

    def _openai_event(self, name: str, payload: bytes | bytearray) -> None:
        # Chat Completions chunks have no type; do not parse them twice.
        kind = name or _sniff_type(payload, _OPENAI_TYPES, parse=False)
        if kind.startswith("response."):
            self._responses_event(kind, payload)
        elif kind == "error":
            self._set_error(_loads(payload))
        else:
            self._chat_chunk(payload)

    def _responses_event(self, kind: str, payload: bytes | bytearray) -> None:
        if kind in _RESPONSES_TEXT:
            self._output_started = True
            if self._first_token_at is None:
                obj = _loads(payload) or {}
                text = obj.get("delta") if kind.endswith(".delta") else obj.get("text")
                if isinstance(text, str) and text.strip():
                    self._mark_first_token()
        elif kind in _RESPONSES_FINAL:
            self._responses_final(kind, _loads(payload))
        elif kind.startswith(("response.output_item", "response.content_part")):
            self._output_started = True

    def _responses_final(self, kind: str, obj: Mapping[str, Any] | None) -> None:
        if obj is None:
            return
        self._apply_openai_usage(obj)
        model = _dig(obj, "response", "model")
        if isinstance(model, str) and model:
            self._model = model
        if kind == "response.failed":
            response = obj.get("response")
            self._set_error(response if isinstance(response, Mapping) else obj)
        else:
            self._completed = True

    def _apply_openai_usage(self, obj: Mapping[str, Any]) -> None:
        usage = openai_usage(obj)
        if usage is not None:
            self._input, self._output = usage.input_tokens, usage.output_tokens
            self._cache_read = usage.cache_read_tokens

    def _gemini_chunk(self, payload: bytes | bytearray) -> None:
        obj = _loads(payload)
        if obj is None:
            return
        if obj.get("error"):
            self._set_error(obj)
            return
        if _gemini_has_content(obj):
            self._output_started = True
            self._mark_first_token()
        usage = gemini_usage(obj)
        if usage is not None:
            self._input, self._output = usage.input_tokens, usage.output_tokens
            self._cache_read = usage.cache_read_tokens
        model = obj.get("modelVersion")
        if isinstance(model, str) and model:
            self._model = model
        if _gemini_finished(obj):
            self._completed = True

    def _chat_chunk(self, payload: bytes | bytearray) -> None:
        wants_usage = _USAGE_OBJECT_RE.search(payload) is not None
        if self._first_token_at is not None and not wants_usage:
            return
        obj = _loads(payload)
        if obj is None:
            return
        if self._first_token_at is None and _chat_has_content(obj):
            self._output_started = True
            self._mark_first_token()
        if wants_usage:
            self._apply_openai_usage(obj)
            model = obj.get("model")
            if isinstance(model, str) and model:
                self._model = model


def _chat_has_content(obj: Mapping[str, Any]) -> bool:
    choices = obj.get("choices")
    if not isinstance(choices, list):
        return False
    for choice in choices:
        delta = _dig(choice, "delta")
        if not isinstance(delta, Mapping):
            continue
        if delta.get("tool_calls"):
            return True
        for name in ("content", "reasoning_content"):
            content = delta.get(name)
            if isinstance(content, str) and content.strip():
                return True
    return False


def _data_payload(data: bytes | bytearray, start: int, end: int) -> bytes | bytearray | None:
    """Return the joined ``data:`` lines of one event, or None."""
    first = data.find(b"data:", start, end)
    if first == -1:
        return None
    nl = data.find(b"\n", first, end)
    if nl == -1 or data.find(b"data:", nl, end) == -1:
        return data[first + 5 : end if nl == -1 else nl].strip()
    lines = []
    for line in data[first:end].split(b"\n"):
        if line.startswith(b"data:"):
            lines.append(line[5:].strip())
    return b"\n".join(lines)
