"""Gemini generateContent: requests out, responses and streams in.

Reference: ai.google.dev/api/generate-content (GenerateContentRequest,
GenerateContentResponse, FinishReason, UsageMetadata) and the function
calling and thinking guides (``thoughtSignature`` must come back with the
part that carried it).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

from ccbridge.convert.ir import (
    ConversionError,
    Document,
    Image,
    Message,
    Request,
    Response,
    StopReason,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolResult,
    Usage,
    effort_to_budget,
    obj,
)
from ccbridge.convert.schema import gemini_schema
from ccbridge.convert.sink import StreamSink

__all__ = (
    "SIGNATURE_PREFIX",
    "UNSIGNED_CALL",
    "GeminiStreamDecoder",
    "decode_gemini_response",
    "encode_gemini_request",
    "gemini_name",
    "gemini_names",
    "gemini_path",
    "gemini_stop_reason",
    "gemini_usage",
)

SIGNATURE_PREFIX: Final = "gemini:"
UNSIGNED_CALL: Final = "skip_thought_signature_validator"
_MAX_STOP: Final = 5
_REFUSALS: Final = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE"}
)


_NAME_OK: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}")
_NAME_BAD_CHARS: Final = re.compile(r"[^A-Za-z0-9_.\-]")
_MAX_NAME: Final = 64


def gemini_name(name: str) -> str:
    """Return a function name Gemini accepts (letters, digits, ``_.-``, ≤ 64).

    A name cut short keeps a hash of the whole so two long names stay apart.
    """
    if _NAME_OK.fullmatch(name):
        return name
    clean = _NAME_BAD_CHARS.sub("_", name)
    if not clean[:1].isalpha() and clean[:1] != "_":
        clean = "_" + clean
    if len(clean) <= _MAX_NAME:
        return clean
    return clean[: _MAX_NAME - 9] + "_" + hashlib.sha1(name.encode()).hexdigest()[:8]


def gemini_names(tools: list[Tool]) -> dict[str, str]:
    """Return Gemini name -> original name for the tools whose name changes."""
    return {gemini_name(t.name): t.name for t in tools if gemini_name(t.name) != t.name}


def gemini_path(model: str, stream: bool) -> str:
    """Return the path below ``{base}/models`` for a model and mode."""
    return (
        f"/models/{model}:streamGenerateContent?alt=sse"
        if stream
        else f"/models/{model}:generateContent"
    )


def gemini_stop_reason(finish: Any) -> StopReason | None:
    """Return the neutral stop reason of a ``finishReason``."""
    if not isinstance(finish, str) or not finish or finish == "FINISH_REASON_UNSPECIFIED":
        return None
    if finish == "MAX_TOKENS":
        return "max_tokens"
    if finish in _REFUSALS:
        return "refusal"
    return "end_turn"


def gemini_usage(raw: Any) -> Usage:
    """Return neutral usage; ``promptTokenCount`` includes cached content."""
    if not isinstance(raw, dict):
        return Usage()
    thoughts = _int(raw.get("thoughtsTokenCount"))
    output = _int(raw.get("candidatesTokenCount")) + thoughts
    usage = Usage.from_inclusive(
        _int(raw.get("promptTokenCount")), _int(raw.get("cachedContentTokenCount")), output
    )
    usage.reasoning_tokens = thoughts
    return usage


def encode_gemini_request(req: Request) -> dict[str, Any]:
    """Return a GenerateContentRequest body (the model goes in the URL)."""
    contents = [c for c in (_content(m) for m in req.messages) if c["parts"]]
    body: dict[str, Any] = {"contents": contents}
    if req.system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(req.system)}]}
    config: dict[str, Any] = {}
    if req.max_tokens:
        config["maxOutputTokens"] = req.max_tokens
    if req.temperature is not None:
        config["temperature"] = req.temperature
    if req.top_p is not None:
        config["topP"] = req.top_p
    if req.top_k is not None:
        config["topK"] = req.top_k
    if req.stop:
        config["stopSequences"] = req.stop[:_MAX_STOP]
    if req.reasoning is not None:
        budget = req.reasoning.budget or effort_to_budget(req.reasoning.effort)
        config["thinkingConfig"] = {"thinkingBudget": budget, "includeThoughts": True}
    if config:
        body["generationConfig"] = config
    _tools(req, body)
    return body


def _tools(req: Request, body: dict[str, Any]) -> None:
    declarations = [
        {
            "name": gemini_name(t.name),
            "description": t.description,
            "parameters": gemini_schema(t.schema),
        }
        for t in req.tools
        if t.kind == "function"
    ]
    tools: list[dict[str, Any]] = [{"functionDeclarations": declarations}] if declarations else []
    if any(t.kind == "web_search" for t in req.tools):
        tools.append({"googleSearch": {}})
    if tools:
        body["tools"] = tools
    choice = req.tool_choice
    if not declarations or choice is None or choice.mode == "auto":
        return
    mode = {"none": "NONE", "required": "ANY", "tool": "ANY"}[choice.mode]
    config: dict[str, Any] = {"mode": mode}
    if choice.mode == "tool":
        config["allowedFunctionNames"] = [gemini_name(choice.name)]
    body["toolConfig"] = {"functionCallingConfig": config}


def _content(message: Message) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    pending_signature = ""
    for part in message.parts:
        if isinstance(part, Text):
            parts.append({"text": part.text})
        elif isinstance(part, Image | Document):
            parts.append(_media(part))
        elif isinstance(part, Thinking):
            # Only Gemini-signed thinking goes back; a signature-only block
            # belongs to the function call after it.
            if part.signature.startswith(SIGNATURE_PREFIX):
                signature = part.signature[len(SIGNATURE_PREFIX) :]
                if part.text:
                    parts.append(
                        {"text": part.text, "thought": True, "thoughtSignature": signature}
                    )
                else:
                    pending_signature = signature
        elif isinstance(part, ToolCall):
            call: dict[str, Any] = {
                "functionCall": {"name": gemini_name(part.name), "args": _args(part.arguments)}
            }
            if pending_signature:
                call["thoughtSignature"] = pending_signature
                pending_signature = ""
            elif not any("functionCall" in p for p in parts):
                # NOTE(convert): Gemini 3 rejects a turn whose first call carries no
                # signature (history from another upstream); Google documents this
                # placeholder for calls it did not sign.
                call["thoughtSignature"] = UNSIGNED_CALL
            parts.append(call)
        elif isinstance(part, ToolResult):
            parts.extend(_result(part))
    return {"role": "model" if message.role == "assistant" else "user", "parts": parts}


def _media(part: Image | Document) -> dict[str, Any]:
    if isinstance(part, Document) and (part.text or not (part.data or part.url)):
        return {"text": part.text}
    if part.url:
        return {
            "fileData": {"mimeType": part.media_type or _guess_mime(part.url), "fileUri": part.url}
        }
    return {"inlineData": {"mimeType": part.media_type, "data": part.data}}


def _guess_mime(url: str) -> str:
    lower = url.lower()
    for ext, mime in (
        (".png", "image/png"),
        (".gif", "image/gif"),
        (".webp", "image/webp"),
        (".pdf", "application/pdf"),
    ):
        if lower.endswith(ext):
            return mime
    return "image/jpeg"


def _result(result: ToolResult) -> list[dict[str, Any]]:
    key = "error" if result.is_error else "result"
    response = {
        "functionResponse": {
            "name": gemini_name(result.name or result.call_id),
            "response": {key: result.text()},
        }
    }
    return [response, *(_media(p) for p in result.content if isinstance(p, Image))]


def _args(arguments: str) -> dict[str, Any]:
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _candidate(body: dict[str, Any]) -> dict[str, Any]:
    candidates = body.get("candidates")
    if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict):
        return candidates[0]
    return {}


def decode_gemini_response(
    body: Any, *, id_prefix: str, names: Mapping[str, str] | None = None
) -> Response:
    """Return the neutral form of a GenerateContentResponse.

    Args:
        body: The parsed response.
        id_prefix: Prefix of minted tool-call ids (Gemini gives none).
        names: Gemini function name -> the client's tool name (:func:`gemini_names`).

    Raises:
        ConversionError: the body is not an object.
    """
    if not isinstance(body, dict):
        raise ConversionError("gemini response is not an object")
    sink = _Collector()
    GeminiStreamDecoder(id_prefix, names).chunk(body, sink)
    blocked = obj(body.get("promptFeedback")).get("blockReason")
    return Response(
        id=str(body.get("responseId") or ""),
        model=str(body.get("modelVersion") or ""),
        parts=sink.parts,
        stop_reason="refusal" if blocked else sink.reason,
        usage=gemini_usage(body.get("usageMetadata")),
    )


class _Collector:
    """Gathers decoder calls into response parts (the non-stream path)."""

    def __init__(self) -> None:
        self.parts: list[Text | Thinking | ToolCall] = []
        self.reason: StopReason | None = None

    def text(self, text: str) -> None:
        last = self.parts[-1] if self.parts else None
        if isinstance(last, Text):
            last.text += text
        else:
            self.parts.append(Text(text))

    def thinking(self, text: str) -> None:
        last = self.parts[-1] if self.parts else None
        if isinstance(last, Thinking) and not last.signature:
            last.text += text
        else:
            self.parts.append(Thinking(text))

    def signature(self, signature: str) -> None:
        last = self.parts[-1] if self.parts else None
        if isinstance(last, Thinking) and not last.signature:
            last.signature = signature
        else:
            self.parts.append(Thinking("", signature))

    def tool_call(self, call_id: str, name: str, arguments: str) -> None:
        self.parts.append(ToolCall(call_id, name, arguments))

    def stop(self, reason: StopReason | None) -> None:
        if reason is not None:
            self.reason = reason


class GeminiStreamDecoder:
    """Gemini stream chunks (each a GenerateContentResponse) -> sink calls.

    Gemini has no end marker: the relay's EOF ends the answer (:meth:`end`)
    once a ``finishReason`` arrived; a function call may follow that chunk.
    """

    __slots__ = ("_calls", "_finished", "_meta", "_names", "_prefix")

    def __init__(self, id_prefix: str, names: Mapping[str, str] | None = None) -> None:
        self._prefix = id_prefix
        self._names = names or {}
        self._calls = 0
        self._meta = False
        self._finished = False

    def event(self, name: str, data: bytes, sink: StreamSink) -> None:
        """Handle one SSE event."""
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(body, dict):
            return
        if isinstance(body.get("error"), dict):
            sink.error("api_error", str(body["error"].get("message") or "upstream stream error"))
            return
        if "usageMetadata" in body:
            sink.usage(gemini_usage(body["usageMetadata"]))
        if not self._meta:
            self._meta = True
            sink.meta(str(body.get("responseId") or ""), str(body.get("modelVersion") or ""))
        self.chunk(body, _StreamAdapter(sink))
        if obj(body.get("promptFeedback")).get("blockReason"):
            self._finished = True
            sink.stop("refusal")

    def chunk(self, body: dict[str, Any], out: Any) -> None:
        """Report one response's parts and finish reason to ``out``."""
        candidate = _candidate(body)
        content = candidate.get("content")
        for part in content.get("parts") or () if isinstance(content, dict) else ():
            if isinstance(part, dict):
                self._part(part, out)
        reason = gemini_stop_reason(candidate.get("finishReason"))
        if reason is not None:
            self._finished = True
            out.stop(reason)

    def _part(self, part: dict[str, Any], out: Any) -> None:
        signature = part.get("thoughtSignature")
        text = part.get("text")
        if part.get("thought"):
            if isinstance(text, str) and text:
                out.thinking(text)
            if signature:
                out.signature(SIGNATURE_PREFIX + str(signature))
        elif isinstance(part.get("functionCall"), dict):
            call = part["functionCall"]
            if signature:
                # NOTE(convert): the signature rides on an empty thinking block just
                # before the call, which Claude Code sends back with the call.
                out.signature(SIGNATURE_PREFIX + str(signature))
            self._calls += 1
            call_id = str(call.get("id") or f"{self._prefix}{self._calls}")
            name = str(call.get("name") or "")
            args = orjson.dumps(call.get("args") or {}).decode()
            out.tool_call(call_id, self._names.get(name, name), args)
        elif isinstance(text, str) and text:
            out.text(text)

    def end(self, sink: StreamSink) -> None:
        """Handle upstream EOF."""
        if self._finished:
            sink.finish()


class _StreamAdapter:
    """Turns whole Gemini function calls into start + one argument fragment."""

    __slots__ = ("_sink",)

    def __init__(self, sink: StreamSink) -> None:
        self._sink = sink

    def text(self, text: str) -> None:
        self._sink.text(text)

    def thinking(self, text: str) -> None:
        self._sink.thinking(text)

    def signature(self, signature: str) -> None:
        self._sink.signature(signature)

    def tool_call(self, call_id: str, name: str, arguments: str) -> None:
        self._sink.tool_start(call_id, call_id, name)
        self._sink.tool_args(call_id, arguments)

    def stop(self, reason: StopReason | None) -> None:
        self._sink.stop(reason)


def _int(raw: Any) -> int:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else 0
