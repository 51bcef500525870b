"""What a ChatGPT subscription's Codex backend needs, as pure functions.

An ``openai-oauth`` channel holds the Codex CLI's OAuth tokens
(``oauthTokens``: access_token, account_id, id_token, refresh_token,
last_refresh, as the reference stores them). The access token is a JWT
whose ``exp`` says when it stops working; it is refreshed a margin before
that with the refresh token at OpenAI's token endpoint (form-encoded, the
Codex CLI's client id), which answers new tokens. The account id travels
in ``Chatgpt-Account-Id``. No function here logs or returns a token in an
error message.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode

from ccbridge.store.snapshot import OAuthTokens
from ccbridge.upstream.client import OutboundHeaders

__all__ = (
    "CODEX_BASE_URL",
    "CODEX_CLIENT_ID",
    "REFRESH_MARGIN_S",
    "TOKEN_URL",
    "OAuthRefreshError",
    "backend_root",
    "codex_responses_url",
    "expires_at",
    "is_due",
    "jwt_claims",
    "parse_token_answer",
    "token_request_body",
    "tokens_dict",
    "with_codex_auth",
)

CODEX_BASE_URL: Final = "https://chatgpt.com/backend-api/codex"
TOKEN_URL: Final = "https://auth.openai.com/oauth/token"
# The official Codex CLI's public client id (the reference sends the same).
CODEX_CLIENT_ID: Final = "app_EMoamEEZ73f0CkXaXp7hrann"
# Refresh this long before the access token expires (the reference: 5 minutes).
REFRESH_MARGIN_S: Final = 300.0
# Without an `exp` claim, a token refreshed this long ago is due (the reference).
_UNDATED_LIFETIME_S: Final = 55 * 60.0
_AUTH_CLAIM: Final = "https://api.openai.com/auth"
_AUTH_HEADERS: Final = frozenset({"authorization", "chatgpt-account-id"})


class OAuthRefreshError(RuntimeError):
    """The access token could not be refreshed (message holds no token)."""


def jwt_claims(token: str) -> dict[str, Any]:
    """Return the claims of a JWT without checking its signature ({} if none)."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


def expires_at(tokens: OAuthTokens) -> float | None:
    """Return when the access token expires (epoch seconds), if known."""
    exp = jwt_claims(tokens.access_token).get("exp")
    if isinstance(exp, int | float) and not isinstance(exp, bool) and exp > 0:
        return float(exp)
    refreshed = _parse_time(tokens.last_refresh)
    return refreshed + _UNDATED_LIFETIME_S if refreshed is not None else None


def is_due(tokens: OAuthTokens, now: float | None = None) -> bool:
    """Return whether the access token should be refreshed before use.

    Only tokens with a refresh token are ever due; a token whose expiry is
    unknown is used until the upstream refuses it (a 401 refreshes it).
    """
    if not tokens.refresh_token:
        return False
    expiry = expires_at(tokens)
    if expiry is None:
        return False
    return expiry - (time.time() if now is None else now) < REFRESH_MARGIN_S


def token_request_body(refresh_token: str) -> bytes:
    """Return the form body of a refresh-token grant."""
    return urlencode(
        {
            "client_id": CODEX_CLIENT_ID,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "scope": "openid profile email",
        }
    ).encode()


def parse_token_answer(body: bytes, old: OAuthTokens, now: datetime) -> OAuthTokens:
    """Return the tokens a token endpoint's 200 answer gives.

    A field the answer leaves out keeps its old value (a refresh token is
    not always rotated); the account id comes from the new id token's
    ChatGPT claim when it has one.

    Raises:
        OAuthRefreshError: The answer is not JSON or has no access token.
    """
    try:
        data = json.loads(body)
    except ValueError:
        raise OAuthRefreshError("token endpoint answered something that is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
        raise OAuthRefreshError("token endpoint answer has no access_token")
    access = data["access_token"]
    id_token = _str(data, "id_token") or old.id_token
    return OAuthTokens(
        access_token=access,
        account_id=_account_id(id_token) or _account_id(access) or old.account_id,
        id_token=id_token,
        refresh_token=_str(data, "refresh_token") or old.refresh_token,
        last_refresh=now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def tokens_dict(tokens: OAuthTokens) -> dict[str, str]:
    """Return tokens as the channel's stored ``oauthTokens`` object."""
    return {
        "access_token": tokens.access_token,
        "account_id": tokens.account_id,
        "id_token": tokens.id_token,
        "refresh_token": tokens.refresh_token,
        "last_refresh": tokens.last_refresh,
    }


def codex_responses_url(base_url: str) -> str:
    """Return the Codex backend's Responses URL for a channel base URL."""
    base = base_url.strip().rstrip("/") or CODEX_BASE_URL
    return base if base.endswith("/responses") else base + "/responses"


def backend_root(base_url: str) -> str:
    """Return the backend-api root above a channel's Codex base URL.

    ``https://chatgpt.com/backend-api/codex[/responses]`` gives
    ``https://chatgpt.com/backend-api``; the usage and reset-credit
    endpoints live under it (``/codex/usage``, ``/wham/usage``, ...).
    """
    base = base_url.strip().rstrip("/") or CODEX_BASE_URL
    for suffix in ("/responses", "/codex"):
        base = base.removesuffix(suffix)
    return base


def with_codex_auth(headers: OutboundHeaders, tokens: OAuthTokens) -> OutboundHeaders:
    """Return headers whose credentials are these tokens (bearer and account)."""
    pairs = [(n, v) for n, v in headers.pairs if n.lower() not in _AUTH_HEADERS]
    pairs.append(("Authorization", f"Bearer {tokens.access_token}"))
    if tokens.account_id:
        pairs.append(("Chatgpt-Account-Id", tokens.account_id))
    return OutboundHeaders(
        tuple(pairs), headers.removed, headers.user_agent, headers.client_user_agent_valid
    )


def _account_id(token: str) -> str:
    auth = jwt_claims(token).get(_AUTH_CLAIM)
    value = auth.get("chatgpt_account_id") if isinstance(auth, Mapping) else None
    return value if isinstance(value, str) else ""


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _parse_time(text: str) -> float | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
