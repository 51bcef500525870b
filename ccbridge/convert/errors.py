"""Upstream error bodies (OpenAI, Responses, Gemini) as Anthropic errors.

The status stays the upstream's own, so the failover rules and the client
see the real one (a 429 stays a 429); only the body changes shape.
Reference: docs.anthropic.com/en/api/errors (types by status).
"""

from __future__ import annotations

from typing import Any, Final

import orjson

__all__ = ("anthropic_error", "anthropic_error_type", "error_message", "stream_error_event")

_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_MAX_MESSAGE: Final = 1000


def anthropic_error_type(status: int) -> str:
    """Return the Anthropic error type for an HTTP status."""
    if status in _TYPES:
        return _TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def error_message(raw: bytes) -> str:
    """Return the human message inside an upstream error body.

    Understands ``{"error": {"message"}}`` (OpenAI, Responses, Gemini), a
    Gemini list of those, ``{"error": "text"}``, ``{"message"}`` and
    ``{"detail"}``; anything else is returned as (shortened) text.
    """
    try:
        body: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace").strip()[:_MAX_MESSAGE] or "upstream error"
    if isinstance(body, list) and body:
        body = body[0]
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, str) and error:
            return error[:_MAX_MESSAGE]
        if isinstance(error, dict):
            for key in ("message", "detail", "msg"):
                if isinstance(error.get(key), str) and error[key]:
                    return str(error[key])[:_MAX_MESSAGE]
    return raw.decode("utf-8", "replace").strip()[:_MAX_MESSAGE] or "upstream error"


def anthropic_error(status: int, raw: bytes) -> tuple[int, bytes]:
    """Return ``(status, body)`` of an Anthropic error for an upstream error."""
    body = {
        "type": "error",
        "error": {"type": anthropic_error_type(status), "message": error_message(raw)},
    }
    return status, orjson.dumps(body)


def stream_error_event(kind: str, message: str) -> bytes:
    """Return an Anthropic SSE ``error`` event."""
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"
