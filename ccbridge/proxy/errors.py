"""Errors the proxy answers itself, shaped like the vendor the client speaks.

`ProxyError` never imports falcon; the app's one error handler renders it
Anthropic-style on /v1/messages, OpenAI-style on /v1/responses and
/v1/chat/completions and Google-style on the Gemini routes, so the official
SDKs raise their usual typed exceptions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

__all__ = ("ProxyError", "anthropic_body", "gemini_body", "openai_body")

# Status -> (Anthropic error type, OpenAI error type).
_TYPES = {
    400: ("invalid_request_error", "invalid_request_error"),
    401: ("authentication_error", "authentication_error"),
    402: ("billing_error", "budget_exceeded"),
    403: ("permission_error", "permission_error"),
    404: ("not_found_error", "not_found_error"),
    413: ("request_too_large", "invalid_request_error"),
    429: ("rate_limit_error", "rate_limit_error"),
    499: ("api_error", "api_error"),
    502: ("api_error", "server_error"),
    503: ("overloaded_error", "server_error"),
    529: ("overloaded_error", "server_error"),
}


# Status -> google.rpc status name (Gemini API errors); 402 is no RESOURCE_EXHAUSTED,
# which clients retry as a rate limit.
_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    402: "FAILED_PRECONDITION",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class ProxyError(Exception):
    """A request the proxy refuses or cannot serve.

    Args:
        status: HTTP status to answer with.
        message: Human-readable reason (never contains secrets).
        code: Stable machine code (e.g. ``MODEL_NOT_ALLOWED``), or "".
        headers: Extra response headers (Retry-After, X-RateLimit-*).
    """

    def __init__(
        self, status: int, message: str, code: str = "", headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})


def anthropic_body(status: int, message: str, code: str = "") -> bytes:
    """Return an Anthropic Messages API error body."""
    error: dict[str, str] = {"type": _TYPES.get(status, ("api_error", ""))[0], "message": message}
    if code:
        error["code"] = code
    return json.dumps({"type": "error", "error": error}).encode()


def openai_body(status: int, message: str, code: str = "") -> bytes:
    """Return an OpenAI API error body."""
    kind = _TYPES.get(status, ("", "server_error" if status >= 500 else "invalid_request_error"))[1]
    error = {"message": message, "type": kind, "param": None, "code": code or None}
    return json.dumps({"error": error}).encode()


def gemini_body(status: int, message: str, code: str = "") -> bytes:
    """Return a Gemini API (google.rpc.Status) error body; ``code`` as ErrorInfo reason."""
    name = _GOOGLE_STATUS.get(status, "UNAVAILABLE" if status >= 500 else "FAILED_PRECONDITION")
    error: dict[str, object] = {"code": status, "message": message, "status": name}
    if code:
        info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": code.upper()}
        error["details"] = [{**info, "domain": "ccbridge"}]
    return json.dumps({"error": error}).encode()
