"""OAuth status, quota refresh and reset credits of ``openai-oauth`` channels.

The reference's routes (spec §4): ``GET …/:id/oauth/status``, ``POST
…/:id/oauth/quota/refresh``, ``POST …/:id/oauth/quota/reset-credit`` and
the same under ``…/by-id/:channelID/``, on the responses pool (and here
the messages pool too, which holds such channels as well). The status
reads the tokens' claims (never the tokens), their expiry, and the Codex
quota last stored in ``channel_quota``; a refresh asks the Codex usage
endpoint (refreshing the access token first if due); a reset spends one
earned reset credit, then refreshes.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Final

import falcon.asgi

from ccbridge.admin import spec
from ccbridge.admin.channels import POOL_PATHS, find_index
from ccbridge.admin.common import AdminError, reply
from ccbridge.runtime import Runtime
from ccbridge.store.codexquota import quota_from_row, quota_from_usage, quota_row, quota_view
from ccbridge.store.snapshot import Channel, OAuthTokens
from ccbridge.upstream.client import UpstreamUnavailable
from ccbridge.upstream.codexauth import OAuthRefreshError, backend_root, expires_at, jwt_claims

__all__ = ("OPENAPI_PATHS", "OAuthResource", "register")

_POOLS: Final = ("messages", "responses")
_TIMEOUT_S: Final = 30.0
_MAX_BODY: Final = 1 << 20
_USER_AGENT: Final = "codex_cli_rs/0.118.0"
_USAGE_PATHS: Final = ("/codex/usage", "/wham/usage")
_CREDIT_PATHS: Final = ("/wham/rate-limit-reset-credits", "/codex/rate-limit-reset-credits")
_CONSUME_PATHS: Final = (
    "/codex/rate-limit-reset-credits/consume",
    "/wham/rate-limit-reset-credits/consume",
)
_AUTH_CLAIM: Final = "https://api.openai.com/auth"
_EXPIRING_S: Final = 300
_SUBSCRIPTION: Final = (
    "subscription_active_start",
    "subscription_active_until",
    "subscription_last_checked",
)


class OAuthResource:
    """The OAuth routes of one pool: by index or stable id, or (``by_id``) stable id only."""

    def __init__(self, rt: Runtime, pool: str, *, by_id: bool = False) -> None:
        self.rt = rt
        self.pool = pool
        self.by_id = by_id

    def _channel(self, req: falcon.asgi.Request, ident: str) -> Channel:
        channels = self.rt.snapshot.channels.get(self.pool, ())
        uids = [c.uid for c in channels]
        wanted = ident if self.by_id else req.get_param("channelId") or None
        index = find_index(uids, ident, wanted)
        channel = channels[index]
        if channel.service_type != "openai-oauth":
            raise AdminError(
                400,
                "Channel is not an OAuth channel",
                "NOT_OAUTH_CHANNEL",
                serviceType=channel.service_type,
            )
        return channel

    def _configured(self, channel: Channel) -> OAuthTokens:
        tokens = self.rt.codex_tokens.tokens(channel)
        if not tokens.access_token:
            raise AdminError(400, "OAuth tokens not configured", "OAUTH_NOT_CONFIGURED")
        return tokens

    async def on_get_status(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, id: str
    ) -> None:
        """Describe a channel's tokens (claims, expiry) and its Codex quota."""
        reply(resp, await self._status(self._channel(req, id)))

    async def on_post_refresh(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, id: str
    ) -> None:
        """Ask the Codex usage endpoint for the quota; store and show it."""
        channel = self._channel(req, id)
        self._configured(channel)
        await self._refresh_quota(channel, await self._tokens(channel))
        reply(resp, await self._status(channel))

    async def on_post_reset(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, id: str
    ) -> None:
        """Spend one earned reset credit, then refresh the quota."""
        channel = self._channel(req, id)
        self._configured(channel)
        key = await _idempotency_key(req)
        tokens = await self._tokens(channel)
        result = await self._consume(channel, tokens, key)
        await self._refresh_quota(channel, tokens)
        reply(resp, {**await self._status(channel), "reset": result})

    async def _tokens(self, channel: Channel) -> OAuthTokens:
        try:
            return await self.rt.codex_tokens.current(channel)
        except OAuthRefreshError as ex:
            raise AdminError(
                502, f"Failed to get a valid OAuth token: {ex}", "OAUTH_REFRESH_FAILED"
            ) from None

    async def _status(self, channel: Channel) -> dict[str, Any]:
        tokens = self.rt.codex_tokens.tokens(channel)
        out: dict[str, Any] = {
            "channelId": channel.index,
            "channelUid": channel.uid,
            "channelName": channel.name,
            "serviceType": channel.service_type,
            "configured": bool(tokens.access_token),
        }
        if not tokens.access_token:
            return {**out, "message": "OAuth tokens not configured"}
        out["status"] = _token_status(tokens)
        expiry = expires_at(tokens)
        if expiry is not None:
            left = int(expiry - datetime.now(UTC).timestamp())
            out["tokenStatus"] = (
                "expired" if left < 0 else "expiring_soon" if left < _EXPIRING_S else "valid"
            )
            out["tokenExpiresIn"] = left
        row = await self.rt.db.daos.channel_quota.get(channel.uid)
        if row is not None:
            quota: dict[str, Any] = {"codex_quota": quota_view(quota_from_row(row))}
            if row.is_exceeded:
                quota |= {
                    "is_exceeded": True,
                    "exceeded_at": _iso(row.exceeded_at),
                    "recover_at": _iso(row.recover_at),
                    "exceeded_reason": row.exceeded_reason or "",
                }
            out["quota"] = quota
        return out

    async def _refresh_quota(self, channel: Channel, tokens: OAuthTokens) -> None:
        now = datetime.now(UTC)
        data, error = await self._first_json(channel, tokens, "GET", _USAGE_PATHS)
        try:
            quota = quota_from_usage(data, now) if data is not None else None
        except ValueError as ex:
            quota, error = None, str(ex)
        if quota is None:
            raise AdminError(502, f"Failed to refresh Codex quota: {error}", "UPSTREAM_ERROR")
        row = quota_row(channel.uid, channel.name, channel.index, quota)
        credits = data.get("rate_limit_reset_credits") if data is not None else None
        details, _ = await self._first_json(channel, tokens, "GET", _CREDIT_PATHS)
        if isinstance(details, dict):
            credits = {**(credits if isinstance(credits, dict) else {}), **details}
        if isinstance(credits, dict):
            row.codex_quota_snapshot["rate_limit_reset_credits"] = credits
        await self.rt.db.daos.channel_quota.upsert(row)

    async def _consume(self, channel: Channel, tokens: OAuthTokens, key: str) -> dict[str, Any]:
        body = json.dumps({"redeem_request_id": key}).encode()
        data, error = await self._first_json(channel, tokens, "POST", _CONSUME_PATHS, body)
        outcome = data.get("code") or data.get("outcome") if data is not None else None
        if not isinstance(outcome, str) or not outcome:
            raise AdminError(
                502,
                f"Failed to reset Codex quota: {error or 'answer has no code'}",
                "UPSTREAM_ERROR",
            )
        result: dict[str, Any] = {"outcome": outcome, "idempotency_key": key}
        windows = data.get("windows_reset") if data is not None else None
        if isinstance(windows, int | float) and not isinstance(windows, bool):
            result["windows_reset"] = int(windows)
        return result

    async def _first_json(
        self,
        channel: Channel,
        tokens: OAuthTokens,
        method: str,
        paths: tuple[str, ...],
        body: bytes | None = None,
    ) -> tuple[dict[str, Any] | None, str]:
        """Return the first 2xx JSON object of these backend paths, or the last error."""
        root = backend_root(channel.base_url)
        headers = {
            "Authorization": f"Bearer {tokens.access_token}",
            "Chatgpt-Account-Id": tokens.account_id,
            "Accept": "application/json",
            "User-Agent": _USER_AGENT,
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        error = ""
        upstream = self.rt.upstream
        for path in paths:
            try:
                async with await upstream.send(
                    method,
                    root + path,
                    headers,
                    body,
                    header_timeout=_TIMEOUT_S,
                    insecure_skip_verify=channel.insecure_skip_verify,
                ) as answer:
                    with upstream.deadlines.within(_TIMEOUT_S):
                        raw = await answer.read()
                    status = answer.status
            except (UpstreamUnavailable, TimeoutError) as ex:
                error = f"{path}: {ex}"
                continue
            if not 200 <= status < 300:
                error = f"{path} answered {status}"
                continue
            try:
                data = json.loads(raw[:_MAX_BODY])
            except ValueError:
                error = f"{path} answered something that is not JSON"
                continue
            if isinstance(data, dict):
                return data, ""
            error = f"{path} answered no JSON object"
        return None, error


async def _idempotency_key(req: falcon.asgi.Request) -> str:
    """Return the reset's idempotency key: header, body, or a new one."""
    key = (req.get_header("Idempotency-Key") or "").strip()
    if key:
        return key
    raw = await req.stream.read()
    if raw.strip():
        try:
            body = json.loads(raw)
        except ValueError:
            raise AdminError(400, "Request body is not JSON", "INVALID_JSON") from None
        given = body.get("idempotency_key") if isinstance(body, dict) else None
        if given is not None and not isinstance(given, str):
            raise AdminError(
                400, "idempotency_key must be a string", "INVALID_FIELD", field="idempotency_key"
            )
        if given and given.strip():
            return given.strip()
    return str(uuid.uuid4())


def _token_status(tokens: OAuthTokens) -> dict[str, Any]:
    """Return what the tokens' claims say (no token itself), as the reference does."""
    claims = jwt_claims(tokens.id_token)
    raw = claims.get(_AUTH_CLAIM)
    auth: dict[str, Any] = raw if isinstance(raw, dict) else {}
    account = str(auth.get("chatgpt_account_id") or tokens.account_id or "")
    status: dict[str, Any] = {
        "account_id": account,
        "masked_account_id": account[:8] + "..." + account[-4:] if len(account) > 12 else account,
        "email": str(claims.get("email") or ""),
        "plan_type": str(auth.get("chatgpt_plan_type") or ""),
        "last_refresh": tokens.last_refresh,
    }
    for key in _SUBSCRIPTION:
        if auth.get("chatgpt_" + key):
            status[key] = auth["chatgpt_" + key]
    expiry = expires_at(tokens)
    if expiry is not None:
        status["token_expires_at"] = _iso(datetime.fromtimestamp(expiry, UTC))
    return {k: v for k, v in status.items() if v not in ("", None)}


def _iso(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if at is not None else ""


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], rt: Runtime) -> None:
    """Add the OAuth routes of the messages and responses pools."""
    for pool in _POOLS:
        base = POOL_PATHS[pool]
        for prefix, by_id in ((base + "/{id}", False), (base + "/by-id/{id}", True)):
            res = OAuthResource(rt, pool, by_id=by_id)
            app.add_route(prefix + "/oauth/status", res, suffix="status")
            app.add_route(prefix + "/oauth/quota/refresh", res, suffix="refresh")
            app.add_route(prefix + "/oauth/quota/reset-credit", res, suffix="reset")


_QUOTA: Final = spec.obj(
    {
        "codex_quota": spec.obj(
            {
                "plan_type": spec.STR,
                "active_limit": spec.STR,
                "primary_used_percent": spec.NUMBER,
                "primary_window_minutes": spec.INT,
                "primary_reset_at": spec.DATETIME,
                "secondary_used_percent": spec.NUMBER,
                "secondary_window_minutes": spec.INT,
                "secondary_reset_at": spec.DATETIME,
                "credits_has_credits": spec.BOOL,
                "credits_unlimited": spec.BOOL,
                "credits_balance": spec.STR,
                "detailed_limits": spec.array(spec.obj({"limit_id": spec.STR}, additional=True)),
                "rate_limit_reset_credits": spec.ANY_OBJECT,
                "updated_at": spec.DATETIME,
            },
            additional=True,
        ),
        "is_exceeded": spec.BOOL,
        "exceeded_at": spec.DATETIME,
        "recover_at": spec.DATETIME,
        "exceeded_reason": spec.STR,
    }
)
_STATUS: Final = spec.obj(
    {
        "channelId": spec.INT,
        "channelUid": spec.STR,
        "channelName": spec.STR,
        "serviceType": spec.STR,
        "configured": spec.BOOL,
        "message": spec.STR,
        "status": spec.obj(
            {
                "account_id": spec.STR,
                "masked_account_id": spec.STR,
                "email": spec.STR,
                "plan_type": spec.STR,
                "token_expires_at": spec.DATETIME,
                "last_refresh": spec.STR,
            },
            additional=True,
        ),
        "tokenStatus": {"type": "string", "enum": ["valid", "expiring_soon", "expired"]},
        "tokenExpiresIn": spec.INT,
        "quota": _QUOTA,
    },
    ["channelId", "channelName", "serviceType", "configured"],
)
_RESET: Final = spec.obj(
    {"outcome": spec.STR, "idempotency_key": spec.STR, "windows_reset": spec.INT},
    ["outcome", "idempotency_key"],
)


def _openapi() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    upstream_errors = (*spec.ERRORS, 502)
    for pool in _POOLS:
        base = POOL_PATHS[pool]
        tag = f"channels ({pool})"
        by_index = [
            spec.path_param("id", spec.STR, "Stable channel id, or index in the pool", "0"),
            spec.query_param("channelId", spec.STR),
        ]
        by_id = [spec.path_param("id", spec.STR, "Stable channel id")]
        for prefix, params in ((base + "/{id}", by_index), (base + "/by-id/{id}", by_id)):
            paths[prefix + "/oauth/status"] = {
                "get": spec.operation(
                    f"OAuth token status and Codex quota ({pool})",
                    tag,
                    params=params,
                    ok_schema=_STATUS,
                )
            }
            paths[prefix + "/oauth/quota/refresh"] = {
                "post": spec.operation(
                    f"Refresh the Codex quota from the usage endpoint ({pool})",
                    tag,
                    params=params,
                    ok_schema=_STATUS,
                    errors=upstream_errors,
                )
            }
            paths[prefix + "/oauth/quota/reset-credit"] = {
                "post": spec.operation(
                    f"Spend one earned Codex reset credit ({pool})",
                    tag,
                    params=[
                        *params,
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": spec.STR,
                        },
                    ],
                    body=spec.obj({"idempotency_key": spec.STR}),
                    body_required=False,
                    ok_schema={**_STATUS, "properties": {**_STATUS["properties"], "reset": _RESET}},
                    errors=upstream_errors,
                )
            }
    return paths


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
