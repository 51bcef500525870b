"""The relay's protocol seam: one adapter per attempt, by pool and channel service type.

A channel that speaks the client's API takes the client's body as it came,
only the model rewritten: the :class:`Passthrough` adapter (``claude`` in
the messages pool, ``responses`` in the responses pool, OpenAI Chat types in
the chat pool, every gemini-pool channel, whose model is in the URL). The
other types (spec §3.3) get the body converted by a bridge of
:mod:`ccbridge.convert` (:class:`MessagesBridge`, :class:`ChatBridge`,
:class:`ResponsesBridge` by pool), their own URL and auth, and their
answers converted back to the client's API: the :class:`Converting` adapter.

A converted stream holds ``message_start`` until its first content
(:meth:`ConvertedStream.start`): until then a broken or bad upstream is an
:class:`UpstreamUnavailable` and the next key or channel serves the call;
afterwards the client stream ends with an Anthropic ``event: error``.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Final

from ccbridge.convert import (
    BridgeOptions,
    ChatBridge,
    ConversionError,
    MessagesBridge,
    ResponsesBridge,
    StreamConverter,
)
from ccbridge.convert import Usage as ConvertedUsage
from ccbridge.convert.bridge import CHAT_TARGETS, MESSAGES_TARGETS, RESPONSES_TARGETS
from ccbridge.convert.responses import needs_encrypted_reasoning, with_encrypted_reasoning
from ccbridge.proxy.usage import Usage, UsageReport
from ccbridge.store.snapshot import Channel
from ccbridge.upstream.client import (
    OutboundHeaders,
    UpstreamUnavailable,
    auth_header,
    chat_url,
    claude_url,
    gemini_url,
    responses_url,
)
from ccbridge.upstream.codexauth import codex_responses_url

__all__ = ("Adapter", "ConvertedStream", "Converting", "Passthrough", "adapter_for")

ANTHROPIC_VERSION: Final = "2023-06-01"

# Client headers that speak for the Anthropic API only, and every credential
# (the converting adapter sets its own).
_DROPPED: Final = frozenset({"authorization", "x-api-key", "x-goog-api-key", "anthropic-version"})
_DROPPED_PREFIXES: Final = ("anthropic-",)


@dataclass(frozen=True, slots=True)
class Outbound:
    """What to send upstream for one attempt."""

    url: str
    body: bytes
    overrides: Mapping[str, str] | None = None


class Passthrough:
    """The body as the client sent it, the model rewritten (one per pool).

    ``encrypted_reasoning``: a Responses body also gets ``include`` of
    encrypted reasoning (a ``responses`` channel's
    ``responsesEncryptedReasoningMode``, spec §2.1).
    """

    __slots__ = ("encrypted_reasoning", "pool")
    converting: Final = False

    def __init__(self, pool: str, *, encrypted_reasoning: bool = False) -> None:
        self.pool = pool
        self.encrypted_reasoning = encrypted_reasoning

    def request(
        self,
        channel: Channel,
        *,
        path: str,
        query: str,
        body: bytes,
        model: str,
        client_model: str,
        stream: bool,
    ) -> Outbound:
        """Return the URL and body of one attempt (``model``: after mapping)."""
        pool = self.pool
        if pool == "gemini":  # the model is in the path: the body goes as it came
            action = path.rpartition("/")[2].partition(":")[2]
            return Outbound(gemini_url(channel.base_url, f"{model}:{action}", query), body)
        if model != client_model or self.encrypted_reasoning:
            body = _with_model(body, model, encrypted_reasoning=self.encrypted_reasoning)
        if pool == "messages":
            url = claude_url(channel.base_url, path, query)
            return Outbound(url, body, {"Accept": "text/event-stream"} if stream else None)
        if pool == "chat":
            return Outbound(chat_url(channel.base_url), body)
        if channel.service_type == "openai-oauth":
            return Outbound(codex_responses_url(channel.base_url), body)
        return Outbound(responses_url(channel.base_url), body)

    def headers(self, built: OutboundHeaders, channel: Channel, key: str) -> OutboundHeaders:
        if self.pool != "gemini":
            return built
        pairs = [(n, v) for n, v in built.pairs if n.lower() not in _DROPPED]
        pairs.append(("x-goog-api-key", key))
        return OutboundHeaders(
            tuple(pairs), built.removed, built.user_agent, built.client_user_agent_valid
        )


def _with_model(body: bytes, model: str, *, encrypted_reasoning: bool = False) -> bytes:
    # The stdlib parse is exact (big integers stay integers), unlike the payload's.
    payload = {**json.loads(body), "model": model}
    if encrypted_reasoning:
        payload = with_encrypted_reasoning(payload)
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


class Converting:
    """A client request converted for another API's upstream."""

    __slots__ = ("bridge",)
    converting: Final = True

    def __init__(self, bridge: MessagesBridge | ChatBridge | ResponsesBridge) -> None:
        self.bridge = bridge

    def request(self, channel: Channel) -> Outbound:
        bridge = self.bridge
        target = bridge.target
        base = channel.base_url.strip().rstrip("/")
        if target == "gemini":
            url = base + bridge.path()
        elif target == "openai-oauth":
            url = codex_responses_url(base)
        else:
            url = claude_url(base, "/v1" + bridge.path())
        overrides = {"Content-Type": "application/json"}
        if bridge.stream or bridge.gathers:
            overrides["Accept"] = "text/event-stream"
        return Outbound(url, bridge.encoded_body(), overrides)

    def headers(self, built: OutboundHeaders, channel: Channel, key: str) -> OutboundHeaders:
        """Return the built headers with this upstream type's credentials."""
        pairs = [
            (n, v)
            for n, v in built.pairs
            if (low := n.lower()) not in _DROPPED and not low.startswith(_DROPPED_PREFIXES)
        ]
        target = self.bridge.target
        if target == "gemini":
            pairs.append(("x-goog-api-key", key))
        elif target == "claude":
            pairs.append(auth_header(key))
            pairs.append(("anthropic-version", ANTHROPIC_VERSION))
        else:  # openai-oauth: the relay sets the current token and account id
            pairs.append(("Authorization", f"Bearer {key}"))
        return OutboundHeaders(
            tuple(pairs), built.removed, built.user_agent, built.client_user_agent_valid
        )

    def error_body(self, status: int, raw: bytes) -> bytes:
        """Return the client's body (in its API's error shape) of a non-2xx answer."""
        return self.bridge.error(status, raw)[1]

    def convert_body(self, raw: bytes) -> tuple[bytes, UsageReport]:
        """Return the client body and usage of a 2xx non-stream answer.

        Raises:
            ConversionError: the upstream's body is not its API's response.
        """
        converted = self.bridge.response(raw)
        response = converted.response
        return converted.body, UsageReport(_usage(response.usage), response.model)

    def stream(self, host: str, chunks: AsyncIterator[bytes]) -> ConvertedStream:
        return ConvertedStream(self.bridge.stream_converter(), host, chunks)


Adapter = Passthrough | Converting
_PASSTHROUGH: Final = {
    pool: Passthrough(pool) for pool in ("messages", "responses", "chat", "gemini")
}
_WITH_ENCRYPTED_REASONING: Final = Passthrough("responses", encrypted_reasoning=True)
# Responses-pool types served as themselves; any other type is a Chat upstream (spec §3.3).
_RESPONSES_NATIVE: Final = frozenset({"responses", "openai-oauth"})


def adapter_for(
    pool: str, channel: Channel, payload: Mapping[str, object], model: str, session_id: str = ""
) -> Adapter:
    """Return the adapter of one channel for a call (``model`` after mapping).

    ``session_id`` (the client's session) becomes the upstream's prompt-cache key.

    Raises:
        ConversionError: the client's body cannot be converted for this channel.
    """
    kind = channel.service_type
    options = BridgeOptions(
        prompt_cache_key=session_id,
        created=int(time.time()),
        # Continue-thinking keeps the encrypted reasoning the Codex backend returned.
        codex_reasoning_replay=channel.continue_thinking_enabled,
    )
    bridge: MessagesBridge | ChatBridge | ResponsesBridge
    if pool == "messages" and kind in MESSAGES_TARGETS:
        bridge = MessagesBridge(kind, payload, model=model, options=options)
    elif pool == "chat" and kind in CHAT_TARGETS:
        bridge = ChatBridge(kind, payload, model=model, options=options)
    elif pool == "responses" and kind == "openai-oauth" and payload.get("stream") is not True:
        # The Codex backend only streams: a whole answer is gathered from its stream.
        bridge = ResponsesBridge(kind, payload, model=model, options=options)
    elif pool == "responses" and kind not in _RESPONSES_NATIVE:
        if payload.get("previous_response_id"):
            raise ConversionError(
                "previous_response_id needs a channel that keeps responses (service type"
                f" 'responses'); this {kind!r} channel is stateless: send the whole"
                " conversation in 'input' (store=false)"
            )
        target = kind if kind in RESPONSES_TARGETS else "openai"
        bridge = ResponsesBridge(target, payload, model=model, options=options)
    elif (
        pool == "responses"
        and kind == "responses"
        and needs_encrypted_reasoning(channel.responses_encrypted_reasoning_mode, payload)
    ):
        return _WITH_ENCRYPTED_REASONING
    else:
        return _PASSTHROUGH.get(pool) or _PASSTHROUGH["responses"]
    return Converting(bridge)


class ConvertedStream:
    """An upstream SSE stream converted to Messages SSE for the client."""

    __slots__ = ("_chunks", "_conv", "_host", "broke", "first_token_at")

    def __init__(self, conv: StreamConverter, host: str, chunks: AsyncIterator[bytes]) -> None:
        self._conv = conv
        self._host = host
        self._chunks = chunks
        self.first_token_at: float | None = None
        self.broke = ""

    def _unavailable(self, reason: str) -> UpstreamUnavailable:
        return UpstreamUnavailable(self._host, "body", reason)

    async def start(self) -> list[bytes]:
        """Read until the first content (or the end); return the client bytes so far.

        Raises:
            UpstreamUnavailable: the stream broke, ended or failed before any
                content: nothing went out, the next key may serve the call.
        """
        conv, held = self._conv, []
        try:
            while not conv.has_content and not conv.terminal:
                try:
                    chunk = await anext(self._chunks)
                except StopAsyncIteration:
                    held.append(conv.close())
                    if not conv.terminal:
                        raise self._unavailable("stream ended before any content") from None
                    break
                out = conv.feed(chunk)
                if conv.errored:
                    raise self._unavailable("stream error before any content")
                held.append(out)
        except ConversionError as ex:
            raise self._unavailable(f"conversion failed: {ex}") from None
        if conv.has_content:
            self.first_token_at = time.time()
        return held

    async def rest(self) -> AsyncIterator[bytes]:
        """Yield the client bytes after :meth:`start`; a break ends them with an error."""
        conv = self._conv
        if conv.terminal:
            return
        try:
            async for chunk in self._chunks:
                out = conv.feed(chunk)
                if out:
                    yield out
            tail = conv.close()
            if not conv.terminal and not conv.errored:
                self.broke = "stream ended without its terminal event"
                tail += conv.fail("upstream stream ended early")
        except UpstreamUnavailable as ex:
            self.broke = str(ex)
            tail = conv.fail("upstream stream broke off")
        except ConversionError as ex:
            self.broke = f"conversion failed: {ex}"
            tail = conv.fail("upstream stream could not be converted")
        if tail:
            yield tail

    def report(self) -> UsageReport:
        conv = self._conv
        error = "upstream stream error" if conv.errored and not self.broke else ""
        return UsageReport(
            _usage(conv.usage),
            conv.model,
            first_token_at=self.first_token_at,
            error_message=error,
            output_started=conv.has_content,
            completed=conv.terminal,
        )


def _usage(usage: ConvertedUsage) -> Usage:
    return Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_creation_tokens=usage.cache_creation_tokens,
        cache_read_tokens=usage.cache_read_tokens,
    )
