"""openai-oauth helpers: token expiry, the refresh grant and its answer, Codex URLs."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs

import pytest

from ccbridge.store.snapshot import OAuthTokens
from ccbridge.upstream.client import OutboundHeaders
from ccbridge.upstream.codexauth import (
    OAuthRefreshError,
    backend_root,
    codex_responses_url,
    expires_at,
    is_due,
    parse_token_answer,
    token_request_body,
    with_codex_auth,
)
from tests.fakes.codex import jwt

NOW = 1_800_000_000.0


def _tokens(exp: float | None = None, **fields: str) -> OAuthTokens:
    claims = {"exp": int(exp)} if exp is not None else {}
    return OAuthTokens(**{"access_token": jwt(claims), "refresh_token": "rt", **fields})


def test_due_within_five_minutes_of_expiry() -> None:
    assert not is_due(_tokens(NOW + 301), NOW)
    assert is_due(_tokens(NOW + 299), NOW)
    assert is_due(_tokens(NOW - 10), NOW)
    assert not is_due(_tokens(NOW - 10, refresh_token=""), NOW)  # nothing to refresh with


def test_expiry_falls_back_to_last_refresh_then_unknown() -> None:
    undated = _tokens(last_refresh="2027-01-15T08:00:00Z")
    assert expires_at(undated) == datetime(2027, 1, 15, 8, 55, tzinfo=UTC).timestamp()
    opaque = OAuthTokens(access_token="not-a-jwt", refresh_token="rt")
    assert expires_at(opaque) is None and not is_due(opaque, NOW)


def test_refresh_grant_is_the_codex_cli_form() -> None:
    form = {k: v[0] for k, v in parse_qs(token_request_body("rt_1").decode()).items()}
    assert form == {
        "client_id": "app_EMoamEEZ73f0CkXaXp7hrann",
        "grant_type": "refresh_token",
        "refresh_token": "rt_1",
        "scope": "openid profile email",
    }


def test_token_answer_keeps_what_it_leaves_out() -> None:
    old = OAuthTokens("a0", "acct-old", "id0", "rt0", "2026-01-01T00:00:00Z")
    at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    id_token = jwt({"https://api.openai.com/auth": {"chatgpt_account_id": "acct-new"}})
    new = parse_token_answer(
        b'{"access_token": "a1", "id_token": "%s"}' % id_token.encode(), old, at
    )
    assert new == OAuthTokens("a1", "acct-new", id_token, "rt0", "2026-05-01T12:00:00Z")
    with pytest.raises(OAuthRefreshError, match="no access_token"):
        parse_token_answer(b'{"error": "x"}', old, at)
    with pytest.raises(OAuthRefreshError, match="not JSON"):
        parse_token_answer(b"<html>", old, at)


@pytest.mark.parametrize(
    ("base", "url", "root"),
    [
        ("", "https://chatgpt.com/backend-api/codex/responses", "https://chatgpt.com/backend-api"),
        (
            "https://chatgpt.com/backend-api/codex/responses",
            "https://chatgpt.com/backend-api/codex/responses",
            "https://chatgpt.com/backend-api",
        ),
        ("http://127.0.0.1:9/x/", "http://127.0.0.1:9/x/responses", "http://127.0.0.1:9/x"),
    ],
)
def test_codex_urls(base: str, url: str, root: str) -> None:
    assert (codex_responses_url(base), backend_root(base)) == (url, root)


def test_codex_auth_replaces_credentials() -> None:
    built = OutboundHeaders((("authorization", "Bearer old"), ("x-a", "1")), (), "ua", False)
    out = with_codex_auth(built, OAuthTokens(access_token="new", account_id="acct"))
    assert out.pairs == (
        ("x-a", "1"),
        ("Authorization", "Bearer new"),
        ("Chatgpt-Account-Id", "acct"),
    )
