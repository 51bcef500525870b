"""Fake ChatGPT OAuth token endpoint and Codex backend, on one loopback server.

Plays both sides an ``openai-oauth`` channel talks to:

* ``POST /oauth/token``: a refresh-token grant (form-encoded, the Codex
  CLI's client id). A refresh token works once; the answer holds a new
  access token (a JWT with ``exp``), id token (with the ChatGPT account
  claim) and refresh token. `fail_with` makes it refuse, `delay` slows it.
* ``POST /backend-api/codex/responses``: checks the bearer (issued, not
  revoked, not expired) and ``Chatgpt-Account-Id``, then answers as
  `responses_responder` does, with ``x-codex-*`` quota headers.
* ``GET /backend-api/codex/usage`` and ``/backend-api/wham/usage``: the
  usage JSON; ``GET /backend-api/wham/rate-limit-reset-credits`` and
  ``POST .../consume``: reset credits.

    async with FakeCodex() as codex:
        tokens = codex.issue()           # an oauthTokens object for a channel
        codex.token_url, codex.base_url  # for the gateway and the channel
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from tests.fakes.upstream import (
    FakeUpstream,
    JsonReply,
    RecordedRequest,
    Reply,
    SseReply,
    openai_error,
    responses_responder,
)

__all__ = ("CODEX_CLIENT_ID", "QUOTA_HEADERS", "FakeCodex", "jwt")

CODEX_CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"
QUOTA_HEADERS = {
    "x-codex-plan-type": "plus",
    "x-codex-active-limit": "codex",
    "x-codex-primary-used-percent": "12.5",
    "x-codex-primary-window-minutes": "300",
    "x-codex-primary-reset-at": "1893456000",
    "x-codex-secondary-used-percent": "44",
    "x-codex-secondary-window-minutes": "10080",
    "x-codex-secondary-reset-after-seconds": "604800",
    "x-codex-credits-has-credits": "false",
    "x-codex-credits-unlimited": "false",
    "x-codex-bengalfox-limit-name": "GPT-5.3-Codex-Spark",
    "x-codex-bengalfox-primary-used-percent": "1.5",
    "x-codex-bengalfox-primary-window-minutes": "300",
}
USAGE = {
    "plan_type": "pro",
    "rate_limit": {
        "primary_window": {
            "used_percent": 0.64,
            "limit_window_seconds": 18000,
            "reset_at": 1893456000,
        },
        "secondary_window": {
            "used_percent": 48.25,
            "limit_window_seconds": 604800,
            "reset_at": 1894060800,
        },
    },
    "credits": {"has_credits": True, "unlimited": False, "balance": "12.50"},
}


def _b64(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def jwt(claims: dict[str, Any]) -> str:
    """Return an unsigned JWT carrying ``claims``."""
    return f"{_b64({'alg': 'none'})}.{_b64(claims)}.sig"


class FakeCodex:
    """The token endpoint and Codex backend of a ChatGPT subscription.

    Attributes:
        token_calls: Refresh grants received (good or bad).
        fail_with: When set, the token endpoint answers this status.
        delay: Seconds the token endpoint takes to answer.
        lifetime: Seconds a newly issued access token lives.
    """

    def __init__(self, account_id: str = "acct-fake-1") -> None:
        self.account_id = account_id
        self.server = FakeUpstream(responder=self._respond)
        self.token_calls = 0
        self.fail_with: int | None = None
        self.delay = 0.0
        self.lifetime = 3600
        self._access: dict[str, float] = {}  # access token -> expiry (epoch)
        self._refresh: set[str] = set()  # refresh tokens not yet spent
        self.consumed: list[str] = []  # redeem_request_id of each reset-credit call

    async def __aenter__(self) -> FakeCodex:
        await self.server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.close()

    @property
    def token_url(self) -> str:
        return self.server.url + "/oauth/token"

    @property
    def base_url(self) -> str:
        return self.server.url + "/backend-api/codex"

    @property
    def backend_requests(self) -> list[RecordedRequest]:
        """Return the requests the Codex backend received (responses only)."""
        return [r for r in self.server.requests if r.path.endswith("/responses")]

    def issue(self, lifetime: float | None = None) -> dict[str, str]:
        """Issue tokens (as a channel's ``oauthTokens``) valid for ``lifetime`` s."""
        exp = time.time() + (self.lifetime if lifetime is None else lifetime)
        access = jwt({"exp": int(exp), "jti": secrets.token_hex(6)})
        refresh = "rt_" + secrets.token_hex(8)
        self._access[access] = exp
        self._refresh.add(refresh)
        id_token = jwt({"https://api.openai.com/auth": {"chatgpt_account_id": self.account_id}})
        return {
            "access_token": access,
            "account_id": self.account_id,
            "id_token": id_token,
            "refresh_token": refresh,
            "last_refresh": "2026-01-01T00:00:00Z",
        }

    def revoke(self, access_token: str) -> None:
        """Make the backend refuse a token that has not expired."""
        self._access.pop(access_token, None)

    def accepts(self, access_token: str) -> bool:
        return self._access.get(access_token, 0) > time.time()

    async def _respond(self, req: RecordedRequest) -> Reply:
        if req.path == "/oauth/token":
            return await self._token(req)
        if not self.accepts((req.header("authorization") or "").removeprefix("Bearer ")):
            return openai_error(401, "token expired or revoked", "invalid_request_error")
        if req.header("chatgpt-account-id") != self.account_id:
            return openai_error(403, "wrong account", "invalid_request_error")
        if req.path.endswith("/responses"):
            if req.json().get("stream") is not True:  # as the real backend
                return openai_error(400, "Stream must be set to true", "invalid_request_error")
            reply = responses_responder(req)
            if isinstance(reply, JsonReply | SseReply) and reply.status == 200:
                own = reply.headers
                pairs = own.items() if isinstance(own, Mapping) else own
                return dataclasses.replace(reply, headers=(*pairs, *QUOTA_HEADERS.items()))
            return reply  # type: ignore[return-value]
        if req.path.endswith(("/codex/usage", "/wham/usage")):
            return JsonReply(USAGE)
        if req.path.endswith("/rate-limit-reset-credits/consume"):
            self.consumed.append(req.json().get("redeem_request_id", ""))
            return JsonReply({"code": "reset", "windows_reset": 2})
        if req.path.endswith("/rate-limit-reset-credits"):
            return JsonReply({"available_count": 0, "total_earned_count": 1, "credits": []})
        return JsonReply({"error": {"message": f"no route {req.path}"}}, status=404)

    async def _token(self, req: RecordedRequest) -> Reply:
        self.token_calls += 1
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_with is not None:
            return JsonReply({"error": "invalid_grant"}, status=self.fail_with)
        ok = (
            form.get("grant_type") == "refresh_token"
            and form.get("client_id") == CODEX_CLIENT_ID
            and form.get("refresh_token") in self._refresh
        )
        if not ok:
            return JsonReply({"error": "invalid_grant"}, status=400)
        self._refresh.discard(form["refresh_token"])  # single-use, like OpenAI's
        tokens = self.issue()
        return JsonReply(
            {
                "access_token": tokens["access_token"],
                "refresh_token": tokens["refresh_token"],
                "id_token": tokens["id_token"],
                "token_type": "Bearer",
                "expires_in": self.lifetime,
            }
        )
