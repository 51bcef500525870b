"""Upstream error bodies mapped to the Anthropic error shape."""

from __future__ import annotations

import orjson
import pytest

from ccbridge.convert import MessagesBridge, stream_error_event

OPENAI_429 = b"""{
  "error": {
    "message": "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM).",
    "type": "tokens",
    "param": null,
    "code": "rate_limit_exceeded"
  }
}"""
OPENAI_400 = (
    b'{"error":{"message":"This model\'s maximum context length is 128000 tokens.",'
    b'"type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}'
)
GEMINI_429 = b"""{
  "error": {
    "code": 429,
    "message": "Resource has been exhausted (e.g. check quota).",
    "status": "RESOURCE_EXHAUSTED"
  }
}"""
GEMINI_LIST_400 = (
    b'[{"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}}]'
)
RESPONSES_404 = (
    b'{"error":{"message":"Item with id \'rs_123\' not found. Items are not persisted '
    b'when `store` is set to false.","type":"invalid_request_error","param":"input","code":null}}'
)

CASES = [
    ("openai", 429, OPENAI_429, "rate_limit_error", "Rate limit reached for gpt-4o"),
    ("openai", 400, OPENAI_400, "invalid_request_error", "This model's maximum context length"),
    ("gemini", 429, GEMINI_429, "rate_limit_error", "Resource has been exhausted"),
    ("gemini", 400, GEMINI_LIST_400, "invalid_request_error", "API key not valid."),
    ("responses", 404, RESPONSES_404, "not_found_error", "Item with id 'rs_123' not found."),
    ("openai-oauth", 401, b'{"detail":"Unauthorized"}', "authentication_error", "Unauthorized"),
    ("openai", 403, b'{"error":"Forbidden"}', "permission_error", "Forbidden"),
    (
        "openai",
        413,
        b"<html>Request Entity Too Large</html>",
        "request_too_large",
        "<html>Request Entity",
    ),
    ("openai", 500, b"", "api_error", "upstream error"),
    (
        "gemini",
        503,
        b'{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}',
        "overloaded_error",
        "The model is overloaded.",
    ),
    ("openai_chat", 529, b'{"message":"busy"}', "overloaded_error", "busy"),
    ("openai", 504, b"gateway timeout", "timeout_error", "gateway timeout"),
    ("openai", 418, b"{}", "invalid_request_error", "{}"),
]


@pytest.mark.parametrize(("target", "status", "raw", "kind", "message"), CASES)
def test_error_body(target: str, status: int, raw: bytes, kind: str, message: str) -> None:
    bridge = MessagesBridge(target, {"model": "x", "max_tokens": 5, "messages": []}, model="m")
    out_status, body = bridge.error(status, raw)
    assert out_status == status  # the real status, for the failover rules and the client
    error = orjson.loads(body)
    assert error["type"] == "error"
    assert error["error"]["type"] == kind
    assert error["error"]["message"].startswith(message)


def test_stream_error_event() -> None:
    raw = stream_error_event("overloaded_error", "Overloaded")
    assert raw == (
        b'event: error\ndata: {"type":"error",'
        b'"error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    )
