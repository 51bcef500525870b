"""One client request converted for one upstream type, and its answer back.

The relay's protocol-adapter seam: build a bridge from the client body, send
:attr:`~Bridge.body` to :meth:`~Bridge.path` and read the answer back through
``response``, ``stream_converter`` or ``error``. :class:`MessagesBridge`
serves Messages clients (issue 18); :class:`ChatBridge` and
:class:`ResponsesBridge` serve Chat and Responses clients (issue 19).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Final

import orjson

from ccbridge.convert.chat_in import decode_chat_request
from ccbridge.convert.chat_out import ChatStreamWriter, chat_error, encode_chat_response
from ccbridge.convert.collect import collect_stream
from ccbridge.convert.emulated import EmulatedToolsSink, extract_tool_calls
from ccbridge.convert.errors import anthropic_error
from ccbridge.convert.ir import ConversionError, Request, Response
from ccbridge.convert.messages_in import decode_messages_request
from ccbridge.convert.messages_out import MessagesStreamWriter, encode_messages_response
from ccbridge.convert.responses_in import custom_tool_names, decode_responses_request
from ccbridge.convert.responses_out import ResponsesStreamWriter, encode_responses_response
from ccbridge.convert.sink import StreamSink
from ccbridge.convert.stream import ClientWriter, StreamConverter
from ccbridge.convert.toolprompt import new_trigger
from ccbridge.convert.upstreams import UPSTREAMS, EncodeOptions

__all__ = (
    "CHAT_TARGETS",
    "MESSAGES_TARGETS",
    "Bridge",
    "BridgeOptions",
    "ChatBridge",
    "ConvertedResponse",
    "MessagesBridge",
    "RESPONSES_TARGETS",
    "ResponsesBridge",
)

MESSAGES_TARGETS: Final = frozenset(
    {"openai", "openaiold", "openai_chat", "gemini", "responses", "openai-oauth"}
)
"""The messages pool's upstream types that need conversion (``claude`` is passthrough)."""

CHAT_TARGETS: Final = frozenset({"claude", "gemini"})
"""The chat pool's upstream types that need conversion (the rest is Chat passthrough)."""

RESPONSES_TARGETS: Final = frozenset({"claude", "openai", "openaiold", "gemini"})
"""The responses pool's upstream types that need conversion."""


@dataclass(frozen=True, slots=True)
class BridgeOptions:
    """Per-channel choices and what the relay knows beyond the body.

    Attributes:
        message_id: The response id to answer with (minted when empty).
        trigger: The ``openai_chat`` call trigger (minted when empty).
        reasoning_content: Send thinking back as ``reasoning_content`` to Chat upstreams.
        max_tokens_cap: Clamp ``max_tokens`` to this (0: no cap).
        prompt_cache_key: Overrides the body's (e.g. from ``X-Claude-Code-Session-Id``).
        codex_reasoning_replay: Keep encrypted reasoning on ``openai-oauth``
            (the reference strips it unless continue-thinking is on).
        created: Unix time for Chat responses' ``created`` (the caller's clock).
    """

    message_id: str = ""
    trigger: str = ""
    reasoning_content: bool = False
    max_tokens_cap: int = 0
    prompt_cache_key: str = ""
    codex_reasoning_replay: bool = False
    created: int = 0


@dataclass(frozen=True, slots=True)
class ConvertedResponse:
    """A non-stream answer: the client's JSON and what the log row needs."""

    body: bytes
    response: Response


class Bridge:
    """The client-independent half: request encoding and upstream decoding."""

    __slots__ = (
        "_message_id",
        "_options",
        "_request",
        "body",
        "gathers",
        "model",
        "stream",
        "target",
    )

    TARGETS: ClassVar[frozenset[str]] = frozenset()
    _ID_PREFIX: ClassVar[str] = "msg_"

    @staticmethod
    def _decode_request(body: Mapping[str, Any]) -> Request:
        """Return the neutral form of the client's body."""
        raise NotImplementedError

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
            target: The channel's service type (one of :attr:`TARGETS`).
            body: The client's parsed JSON body.
            model: The upstream model, after model mapping.
            options: Per-channel choices.

        Raises:
            ConversionError: unknown target or a body that does not fit.
        """
        if target not in self.TARGETS:
            raise ConversionError(f"no conversion for service type {target!r}")
        opts = options or BridgeOptions()
        if target == "openai_chat" and not opts.trigger:
            opts = replace(opts, trigger=new_trigger())
        self._options = opts
        self.target = target
        self.model = model
        self._message_id = opts.message_id or self._ID_PREFIX + secrets.token_hex(12)
        req = self._decode_request(body)
        if opts.max_tokens_cap and (not req.max_tokens or req.max_tokens > opts.max_tokens_cap):
            req.max_tokens = opts.max_tokens_cap
        if opts.prompt_cache_key:
            req.prompt_cache_key = opts.prompt_cache_key
        self._request = req
        self.stream = req.stream
        # A stream-only upstream streams even for a whole-answer client: gathered here.
        self.gathers = not req.stream and UPSTREAMS[target].stream_only
        encode = EncodeOptions(opts.trigger, opts.reasoning_content, opts.codex_reasoning_replay)
        self.body = UPSTREAMS[target].encode(
            replace(req, stream=True) if self.gathers else req, model, encode
        )

    def path(self) -> str:
        """Return the upstream path to append to the channel's base URL.

        Chat, Responses and Messages paths take the reference's ``/v1`` rule
        in the relay; the Gemini path goes below ``{base}`` as given.
        """
        return UPSTREAMS[self.target].path(self.model, self.stream or self.gathers)

    def encoded_body(self) -> bytes:
        """Return :attr:`body` as JSON bytes."""
        return orjson.dumps(self.body)

    @property
    def message_id(self) -> str:
        return self._message_id

    @property
    def _tool_id_prefix(self) -> str:
        return "toolu_" + self._message_id.removeprefix(self._ID_PREFIX) + "_"

    def _upstream_response(self, raw: bytes) -> Response:
        if self.gathers and not raw.lstrip().startswith(b"{"):  # an SSE body, to gather
            decoder = UPSTREAMS[self.target].stream_decoder(self._tool_id_prefix, self._request)
            return collect_stream(raw, decoder, self._message_id)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as ex:
            raise ConversionError("upstream body is not JSON") from ex
        response = UPSTREAMS[self.target].decode(body, self._tool_id_prefix, self._request)
        if self.target == "openai_chat":
            req = self._request
            response = extract_tool_calls(
                response,
                trigger=self._options.trigger,
                tools=req.tools,
                thinking=req.reasoning is not None,
                id_prefix=self._tool_id_prefix,
            )
        response.id = self._message_id
        return response

    def _converter(self, writer: ClientWriter) -> StreamConverter:
        decoder = UPSTREAMS[self.target].stream_decoder(self._tool_id_prefix, self._request)
        sink: StreamSink = writer
        if self.target == "openai_chat":
            req = self._request
            sink = EmulatedToolsSink(
                writer,
                trigger=self._options.trigger,
                tools=req.tools,
                thinking=req.reasoning is not None,
                id_prefix=self._tool_id_prefix,
            )
        return StreamConverter(decoder, writer, sink)


class MessagesBridge(Bridge):
    """An Anthropic Messages request for a non-Anthropic upstream."""

    __slots__ = ()

    TARGETS = MESSAGES_TARGETS

    @staticmethod
    def _decode_request(body: Mapping[str, Any]) -> Request:
        return decode_messages_request(body)

    def response(self, raw: bytes) -> ConvertedResponse:
        """Convert a 2xx non-stream upstream body.

        Raises:
            ConversionError: the body is not the API's response object.
        """
        response = self._upstream_response(raw)
        return ConvertedResponse(
            orjson.dumps(encode_messages_response(response, self.model)), response
        )

    def stream_converter(self) -> StreamConverter:
        """Return a fresh converter for the upstream's SSE stream."""
        return self._converter(MessagesStreamWriter(message_id=self._message_id, model=self.model))

    def error(self, status: int, raw: bytes) -> tuple[int, bytes]:
        """Return ``(status, Anthropic error body)`` for a non-2xx upstream answer."""
        return anthropic_error(status, raw)


class ChatBridge(Bridge):
    """A Chat Completions request for a Messages or Gemini upstream."""

    __slots__ = ("_include_usage",)

    TARGETS = CHAT_TARGETS
    _ID_PREFIX = "chatcmpl-"

    @staticmethod
    def _decode_request(body: Mapping[str, Any]) -> Request:
        return decode_chat_request(body)

    def __init__(
        self,
        target: str,
        body: Mapping[str, Any],
        *,
        model: str,
        options: BridgeOptions | None = None,
    ) -> None:
        super().__init__(target, body, model=model, options=options)
        stream_options = body.get("stream_options")
        self._include_usage = (
            isinstance(stream_options, dict) and stream_options.get("include_usage") is True
        )

    def response(self, raw: bytes) -> ConvertedResponse:
        """Convert a 2xx non-stream upstream body.

        Raises:
            ConversionError: the body is not the API's response object.
        """
        response = self._upstream_response(raw)
        body = encode_chat_response(response, model=self.model, created=self._options.created)
        return ConvertedResponse(orjson.dumps(body), response)

    def stream_converter(self) -> StreamConverter:
        """Return a fresh converter for the upstream's SSE stream."""
        writer = ChatStreamWriter(
            response_id=self._message_id,
            model=self.model,
            created=self._options.created,
            include_usage=self._include_usage,
        )
        return self._converter(writer)

    def error(self, status: int, raw: bytes) -> tuple[int, bytes]:
        """Return ``(status, OpenAI error body)`` for a non-2xx upstream answer."""
        return chat_error(status, raw)


class ResponsesBridge(Bridge):
    """A Responses API request for a Messages, Chat or Gemini upstream.

    The upstreams are stateless: ``previous_response_id`` is not read here;
    the relay refuses it for converted channels (docs/conversion.md).
    """

    __slots__ = ("_custom_tools",)

    # openai-oauth: only for a client that does not stream (the Codex backend only
    # streams, so its answer is gathered); a streaming client is relayed as it is.
    TARGETS = RESPONSES_TARGETS | {"openai-oauth"}
    _ID_PREFIX = "resp_"

    @staticmethod
    def _decode_request(body: Mapping[str, Any]) -> Request:
        return decode_responses_request(body)

    def __init__(
        self,
        target: str,
        body: Mapping[str, Any],
        *,
        model: str,
        options: BridgeOptions | None = None,
    ) -> None:
        super().__init__(target, body, model=model, options=options)
        self._custom_tools = custom_tool_names(body)

    def response(self, raw: bytes) -> ConvertedResponse:
        """Convert a 2xx non-stream upstream body.

        Raises:
            ConversionError: the body is not the API's response object.
        """
        response = self._upstream_response(raw)
        body = encode_responses_response(
            response,
            model=self.model,
            created=self._options.created,
            custom_tools=self._custom_tools,
        )
        return ConvertedResponse(orjson.dumps(body), response)

    def stream_converter(self) -> StreamConverter:
        """Return a fresh converter for the upstream's SSE stream."""
        writer = ResponsesStreamWriter(
            response_id=self._message_id,
            model=self.model,
            created=self._options.created,
            custom_tools=self._custom_tools,
        )
        return self._converter(writer)

    def error(self, status: int, raw: bytes) -> tuple[int, bytes]:
        """Return ``(status, OpenAI error body)`` for a non-2xx upstream answer."""
        return chat_error(status, raw)
