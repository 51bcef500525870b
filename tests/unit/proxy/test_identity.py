from __future__ import annotations

import json

import pytest

from ccbridge.proxy.identity import (
    RequestIdentity,
    claude_identity,
    header_getter,
    parse_claude_user_id,
    responses_identity,
)

SESSION = "3f2a9c1e-0000-4000-8000-00000000abcd"
NO_HEADERS = header_getter({})


@pytest.mark.parametrize(
    ("compound", "expected"),
    [
        (f"user_abc123_account__session_{SESSION}", ("user_abc123", SESSION)),
        (
            json.dumps({"device_id": "dev", "account_uuid": "acct", "session_id": SESSION}),
            ("acct", SESSION),
        ),
        (json.dumps({"device_id": "dev", "session_id": SESSION}), ("dev", SESSION)),
        # JSON without device_id is treated as an opaque id.
        ('{"account_uuid":"acct"}', ('{"account_uuid":"acct"}', "")),
        ("{not json", ("{not json", "")),
        ("plain-user", ("plain-user", "")),
        ("   ", ("", "")),
    ],
)
def test_parse_claude_user_id(compound: str, expected: tuple[str, str]) -> None:
    assert parse_claude_user_id(compound) == expected


def test_claude_identity_from_metadata() -> None:
    body = {"metadata": {"user_id": f"user_x_account__session_{SESSION}"}, "speed": "fast"}
    assert claude_identity(body, NO_HEADERS) == RequestIdentity("user_x", SESSION, fast=True)


def test_claude_identity_session_header_fallbacks() -> None:
    body = {"metadata": {"user_id": "user_x"}}
    headers = header_getter({"x-claude-code-session-id": "hdr-1", "Session_id": "hdr-2"})
    assert claude_identity(body, headers) == RequestIdentity("user_x", "hdr-1")
    assert claude_identity({}, header_getter({"SESSION_ID": "hdr-2"})) == RequestIdentity(
        "", "hdr-2"
    )
    assert claude_identity({"metadata": "oops"}, NO_HEADERS) == RequestIdentity()


def test_responses_identity_with_prompt_cache_key() -> None:
    body = {
        "prompt_cache_key": " thread-9 ",
        "reasoning": {"effort": "high"},
        "metadata": {"user_id": "ignored"},
    }
    headers = header_getter({"Conversation_id": "conv"})
    assert responses_identity(body, headers) == RequestIdentity(
        client_id="codex", session_id="thread-9", reasoning_effort="high"
    )


def test_responses_identity_from_headers_and_metadata() -> None:
    headers = header_getter({"conversation_id": f"user_u_account__session_{SESSION}"})
    assert responses_identity({}, headers) == RequestIdentity("user_u", SESSION)
    from_meta = responses_identity({"metadata": {"user_id": "abc"}}, NO_HEADERS)
    assert from_meta == RequestIdentity("abc", "")


def test_responses_service_tier_and_fast() -> None:
    priority = responses_identity({"service_tier": "Priority"}, NO_HEADERS)
    assert (priority.service_tier, priority.fast) == ("priority", True)
    speed = responses_identity({"speed": "fast"}, NO_HEADERS)
    assert (speed.service_tier, speed.fast) == ("priority", True)
    assert responses_identity({"service_tier": "flex"}, NO_HEADERS).fast is False
