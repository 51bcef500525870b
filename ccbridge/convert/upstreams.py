"""Each upstream type's encoder, path, decoder and stream decoder, as data.

A bridge looks its target up here once; adding an upstream type is one entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from ccbridge.convert.chat import ChatStreamDecoder, decode_chat_response, encode_chat_request
from ccbridge.convert.gemini import (
    GeminiStreamDecoder,
    decode_gemini_response,
    encode_gemini_request,
    gemini_names,
    gemini_path,
)
from ccbridge.convert.ir import Request, Response
from ccbridge.convert.messages_up import (
    MessagesStreamDecoder,
    decode_messages_response,
    encode_messages_request,
)
from ccbridge.convert.responses import (
    ResponsesStreamDecoder,
    decode_responses_response,
    encode_responses_request,
)
from ccbridge.convert.stream import StreamDecoder
from ccbridge.convert.toolprompt import encode_emulated_request

__all__ = ("UPSTREAMS", "EncodeOptions", "Upstream")


@dataclass(frozen=True, slots=True)
class EncodeOptions:
    """The per-channel choices an encoder reads."""

    trigger: str = ""
    reasoning_content: bool = False
    codex_reasoning_replay: bool = False


@dataclass(frozen=True, slots=True)
class Upstream:
    encode: Callable[[Request, str, EncodeOptions], dict[str, Any]]
    path: Callable[[str, bool], str]
    decode: Callable[[Any, str, Request], Response]  # (body, tool-id prefix, request)
    stream_decoder: Callable[[str, Request], StreamDecoder]  # (tool-id prefix, request)
    stream_only: bool = False  # answers only as a stream (a whole answer is gathered)


def _fixed(path: str) -> Callable[[str, bool], str]:
    return lambda model, stream: path


def _chat(legacy: bool) -> Upstream:
    return Upstream(
        encode=lambda req, model, o: encode_chat_request(
            req, model=model, legacy=legacy, reasoning_content=o.reasoning_content
        ),
        path=_fixed("/chat/completions"),
        decode=lambda body, prefix, req: decode_chat_response(body),
        stream_decoder=lambda prefix, req: ChatStreamDecoder(),
    )


def _responses(codex: bool) -> Upstream:
    return Upstream(
        encode=lambda req, model, o: encode_responses_request(
            req,
            model=model,
            codex=codex,
            replay_reasoning=o.codex_reasoning_replay if codex else True,
        ),
        path=_fixed("/responses"),
        decode=lambda body, prefix, req: decode_responses_response(body),
        stream_decoder=lambda prefix, req: ResponsesStreamDecoder(),
        stream_only=codex,  # the Codex backend refuses stream: false
    )


UPSTREAMS: Final[dict[str, Upstream]] = {
    "openai": _chat(legacy=False),
    "openaiold": _chat(legacy=True),
    # The emulated-tools parser is put in front by the bridge (it needs the request).
    "openai_chat": Upstream(
        encode=lambda req, model, o: encode_emulated_request(req, model=model, trigger=o.trigger),
        path=_fixed("/chat/completions"),
        decode=lambda body, prefix, req: decode_chat_response(body),
        stream_decoder=lambda prefix, req: ChatStreamDecoder(),
    ),
    "gemini": Upstream(
        encode=lambda req, model, o: encode_gemini_request(req),
        path=gemini_path,
        decode=lambda body, prefix, req: decode_gemini_response(
            body, id_prefix=prefix, names=gemini_names(req.tools)
        ),
        stream_decoder=lambda prefix, req: GeminiStreamDecoder(prefix, gemini_names(req.tools)),
    ),
    "responses": _responses(codex=False),
    "openai-oauth": _responses(codex=True),
    "claude": Upstream(
        encode=lambda req, model, o: encode_messages_request(req, model=model),
        path=_fixed("/messages"),
        decode=lambda body, prefix, req: decode_messages_response(body),
        stream_decoder=lambda prefix, req: MessagesStreamDecoder(),
    ),
}
