"""One Messages-client request converted for one upstream type.

The relay's protocol-adapter seam: build a :class:`MessagesBridge` from the
client body, send :attr:`~MessagesBridge.body` to :meth:`~MessagesBridge.path`
and read the answer back through :meth:`~MessagesBridge.response`,
:meth:`~MessagesBridge.stream` or :meth:`~MessagesBridge.error`.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from ccbridge.convert.chat import ChatStreamDecoder, decode_chat_response, encode_chat_request
from ccbridge.convert.emulated import EmulatedToolsSink, extract_tool_calls
from ccbridge.convert.errors import anthropic_error
from ccbridge.convert.gemini import (
    GeminiStreamDecoder,
    decode_gemini_response,
    encode_gemini_request,
    gemini_path,
)
from ccbridge.convert.ir import ConversionError, Request, Response
from ccbridge.convert.messages_in import decode_messages_request
from ccbridge.convert.messages_out import MessagesStreamWriter, encode_messages_response
from ccbridge.convert.responses import (
    ResponsesStreamDecoder,
    decode_responses_response,
    encode_responses_request,
)
from ccbridge.convert.stream import StreamConverter, StreamDecoder
from ccbridge.convert.toolprompt import encode_emulated_request, new_trigger

__all__ = ("MESSAGES_TARGETS", "BridgeOptions", "ConvertedResponse", "MessagesBridge")

MESSAGES_TARGETS: Final = frozenset(
    {"openai", "openaiold", "openai_chat", "gemini", "responses", "openai-oauth"}
)
"""The messages pool's upstream types that need conversion (``claude`` is passthrough)."""

_CHAT_PATH: Final = "/chat/completions"
_RESPONSES_PATH: Final = "/responses"


@dataclass(frozen=True, slots=True)
class BridgeOptions:
    """Per-channel choices and what the relay knows beyond the body.

    Attributes:
        message_id: The Messages ``id`` to answer with (minted when empty).
        trigger: The ``openai_chat`` call trigger (minted when empty).
        reasoning_content: Send thinking back as ``reasoning_content`` to Chat upstreams.
        max_tokens_cap: Clamp ``max_tokens`` to this (0: no cap).
        prompt_cache_key: Overrides the body's (e.g. from ``X-Claude-Code-Session-Id``).
        codex_reasoning_replay: Keep encrypted reasoning on ``openai-oauth``
            (the reference strips it unless continue-thinking is on).
    """

    message_id: str = ""
    trigger: str = ""
    reasoning_content: bool = False
    max_tokens_cap: int = 0
    prompt_cache_key: str = ""
    codex_reasoning_replay: bool = False


@dataclass(frozen=True, slots=True)
class ConvertedResponse:
    """A non-stream answer: the Messages JSON and what the log row needs."""

    body: bytes
    response: Response


class MessagesBridge:
    """Convert one Anthropic Messages request and its answer."""

    __slots__ = ("_message_id", "_options", "_request", "body", "model", "stream", "target")

    def __init__(
        self,
        target: str,
        body: Mapping[str, Any],
        *,
        model: str,
        options: BridgeOptions | None = None,
    ) -> None:
        """Build the upstream body.

        Args:
            target: The channel's service type (one of :data:`MESSAGES_TARGETS`).
            body: The client's parsed JSON body.
            model: The upstream model, after model mapping.
            options: Per-channel choices.

        Raises:
            ConversionError: unknown target or a body that does not fit.
        """
        if target not in MESSAGES_TARGETS:
            raise ConversionError(f"no conversion for service type {target!r}")
        self._options = opts = options or BridgeOptions()
        self.target = target
        self.model = model
        self._message_id = opts.message_id or "msg_" + secrets.token_hex(12)
        req = decode_messages_request(body)
        if opts.max_tokens_cap and (not req.max_tokens or req.max_tokens > opts.max_tokens_cap):
            req.max_tokens = opts.max_tokens_cap
        if opts.prompt_cache_key:
            req.prompt_cache_key = opts.prompt_cache_key
        if target == "openai_chat" and not opts.trigger:
            self._options = opts = BridgeOptions(**{**_as_dict(opts), "trigger": new_trigger()})
        self._request = req
        self.stream = req.stream
        self.body = self._encode(req)

    def _encode(self, req: Request) -> dict[str, Any]:
        target, opts = self.target, self._options
        if target in ("openai", "openaiold"):
            return encode_chat_request(
                req,
                model=self.model,
                legacy=target == "openaiold",
                reasoning_content=opts.reasoning_content,
            )
        if target == "openai_chat":
            return encode_emulated_request(req, model=self.model, trigger=opts.trigger)
        if target == "gemini":
            return encode_gemini_request(req)
        codex = target == "openai-oauth"
        replay = opts.codex_reasoning_replay if codex else True
        return encode_responses_request(req, model=self.model, codex=codex, replay_reasoning=replay)

    def path(self) -> str:
        """Return the upstream path to append to the channel's base URL.

        Chat and Responses paths take the reference's ``/v1`` rule in the
        relay; the Gemini path goes below ``{base}`` as given.
        """
        if self.target == "gemini":
            return gemini_path(self.model, self.stream)
        return _RESPONSES_PATH if self.target in ("responses", "openai-oauth") else _CHAT_PATH

    def encoded_body(self) -> bytes:
        """Return :attr:`body` as JSON bytes."""
        return orjson.dumps(self.body)

    @property
    def message_id(self) -> str:
        return self._message_id

    @property
    def _tool_id_prefix(self) -> str:
        return "toolu_" + self._message_id.removeprefix("msg_") + "_"

    def response(self, raw: bytes) -> ConvertedResponse:
        """Convert a 2xx non-stream upstream body.

        Raises:
            ConversionError: the body is not the API's response object.
        """
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as ex:
            raise ConversionError("upstream body is not JSON") from ex
        response = self._decode(body)
        response.id = self._message_id
        encoded = encode_messages_response(response, self.model)
        return ConvertedResponse(orjson.dumps(encoded), response)

    def _decode(self, body: Any) -> Response:
        if self.target == "gemini":
            return decode_gemini_response(body, id_prefix=self._tool_id_prefix)
        if self.target in ("responses", "openai-oauth"):
            return decode_responses_response(body)
        response = decode_chat_response(body)
        if self.target == "openai_chat":
            req = self._request
            response = extract_tool_calls(
                response,
                trigger=self._options.trigger,
                tools=req.tools,
                thinking=req.reasoning is not None,
                id_prefix=self._tool_id_prefix,
            )
        return response

    def stream_converter(self) -> StreamConverter:
        """Return a fresh converter for the upstream's SSE stream."""
        writer = MessagesStreamWriter(message_id=self._message_id, model=self.model)
        decoder: StreamDecoder
        if self.target == "gemini":
            decoder = GeminiStreamDecoder(self._tool_id_prefix)
        elif self.target in ("responses", "openai-oauth"):
            decoder = ResponsesStreamDecoder()
        else:
            decoder = ChatStreamDecoder()
        if self.target != "openai_chat":
            return StreamConverter(decoder, writer)
        req = self._request
        sink = EmulatedToolsSink(
            writer,
            trigger=self._options.trigger,
            tools=req.tools,
            thinking=req.reasoning is not None,
            id_prefix=self._tool_id_prefix,
        )
        return StreamConverter(decoder, writer, sink)

    def error(self, status: int, raw: bytes) -> tuple[int, bytes]:
        """Return ``(status, Anthropic error body)`` for a non-2xx upstream answer."""
        return anthropic_error(status, raw)


def _as_dict(opts: BridgeOptions) -> dict[str, Any]:
    return {name: getattr(opts, name) for name in BridgeOptions.__slots__}
