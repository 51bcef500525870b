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
from typing import Annotated, Any, Final, Literal

import falcon.asgi
import msgspec

from ccbridge.admin import spec
from ccbridge.admin.channels import POOL_PATHS, find_index
from ccbridge.admin.common import AdminError, read_raw, reply
from ccbridge.admin.model import decode, ref
from ccbridge.runtime import Runtime
from ccbridge.store.codexquota import quota_from_row, quota_from_usage, quota_row, quota_view
from ccbridge.store.snapshot import Channel, OAuthTokens
from ccbridge.upstream.client import UpstreamUnavailable
from ccbridge.upstream.codexauth import OAuthRefreshError, backend_root, expires_at, jwt_claims

__all__ = (
    "OPENAPI_PATHS",
    "CodexQuota",
    "OAuthResource",
    "OAuthStatus",
    "ResetCreditBody",
    "register",
)

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
            raise AdminError(  # 409: the channel exists, its type does not fit
                409,
                "Channel is not an OAuth channel",
                "NOT_OAUTH_CHANNEL",
                serviceType=channel.service_type,
            )
        return channel

    def _configured(self, channel: Channel) -> OAuthTokens:
        tokens = self.rt.codex_tokens.tokens(channel)
        if not tokens.access_token:
            raise AdminError(409, "OAuth tokens not configured", "OAUTH_NOT_CONFIGURED")
        return tokens

    async def on_get_status(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, id: str
    ) -> None:
        """Describe a channel's tokens (claims, expiry) and its Codex quota."""
        reply(resp, _shaped(await self._status(self._channel(req, id))))

    async def on_post_refresh(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, id: str
    ) -> None:
        """Ask the Codex usage endpoint for the quota; store and show it."""
        channel = self._channel(req, id)
        self._configured(channel)
        await self._refresh_quota(channel, await self._tokens(channel))
        reply(resp, _shaped(await self._status(channel)))

    async def on_post_reset(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, id: str
    ) -> None:
        """Spend one earned reset credit, then refresh the quota."""
        key = await _idempotency_key(req)  # a bad body is refused before anything else
        channel = self._channel(req, id)
        self._configured(channel)
        tokens = await self._tokens(channel)
        result = await self._consume(channel, tokens, key)
        await self._refresh_quota(channel, tokens)
        reply(resp, _shaped({**await self._status(channel), "reset": result}))

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
    raw = await read_raw(req)  # the admin body limit applies (413)
    given = decode(raw, ResetCreditBody).idempotency_key if raw.strip() else ""
    key = (req.get_header("Idempotency-Key") or "").strip() or given.strip()
    return key or str(uuid.uuid4())


def _shaped(status: dict[str, Any]) -> Any:
    """Return a status through its model, so the answer is what the document says."""
    return msgspec.to_builtins(msgspec.convert(status, OAuthStatus))


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


def _d(description: str) -> msgspec.Meta:
    return msgspec.Meta(description=description)


class ResetCreditBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Optional body of a reset-credit call (the Idempotency-Key header wins)."""

    idempotency_key: Annotated[
        str,
        msgspec.Meta(max_length=200, description="Redeem request id; a new uuid when absent."),
    ] = ""


class TokenStatus(msgspec.Struct, omit_defaults=True):
    """What the tokens' claims say (never a token)."""

    account_id: Annotated[str, _d("ChatGPT account id (Chatgpt-Account-Id).")] = ""
    masked_account_id: Annotated[str, _d("The account id, its middle elided.")] = ""
    email: Annotated[str, _d("E-mail of the id token.")] = ""
    plan_type: Annotated[str, _d("ChatGPT plan of the id token.")] = ""
    subscription_active_start: Annotated[Any, _d("Subscription start (id token claim).")] = None
    subscription_active_until: Annotated[Any, _d("Subscription end (id token claim).")] = None
    subscription_last_checked: Annotated[Any, _d("Last subscription check (claim).")] = None
    token_expires_at: Annotated[str, _d("Access token expiry (RFC 3339).")] = ""
    last_refresh: Annotated[str, _d("When the tokens were last refreshed.")] = ""


class CodexLimit(msgspec.Struct, omit_defaults=True):
    """A per-model Codex limit (x-codex-<family>-* headers)."""

    limit_id: Annotated[str, _d("codex_<family>.")]
    limit_name: Annotated[str, _d("Display name of the limit.")] = ""
    primary_used_percent: Annotated[float, _d("Primary window used, percent.")] = 0
    primary_window_minutes: Annotated[int, _d("Primary window length.")] = 0
    primary_reset_at: Annotated[str, _d("Primary window reset (RFC 3339).")] = ""
    primary_reset_after_seconds: Annotated[int, _d("Seconds until the primary reset.")] = 0
    secondary_used_percent: Annotated[float, _d("Secondary window used, percent.")] = 0
    secondary_window_minutes: Annotated[int, _d("Secondary window length.")] = 0
    secondary_reset_at: Annotated[str, _d("Secondary window reset (RFC 3339).")] = ""
    secondary_reset_after_seconds: Annotated[int, _d("Seconds until the secondary reset.")] = 0


class CodexQuota(msgspec.Struct, omit_defaults=True):
    """The Codex quota last reported (``codex_quota_snapshot``); percents exact."""

    primary_used_percent: Annotated[float, _d("5-hour window used, percent.")] = 0
    secondary_used_percent: Annotated[float, _d("Weekly window used, percent.")] = 0
    plan_type: Annotated[str, _d("ChatGPT plan.")] = ""
    active_limit: Annotated[str, _d("The limit family in force.")] = ""
    primary_window_minutes: Annotated[int, _d("5-hour window length, minutes.")] = 0
    primary_reset_at: Annotated[str, _d("5-hour window reset (RFC 3339).")] = ""
    secondary_window_minutes: Annotated[int, _d("Weekly window length, minutes.")] = 0
    secondary_reset_at: Annotated[str, _d("Weekly window reset (RFC 3339).")] = ""
    primary_over_secondary_limit_percent: Annotated[int, _d("Reported as is.")] = 0
    credits_has_credits: Annotated[bool, _d("The account has credits.")] = False
    credits_unlimited: Annotated[bool, _d("The credits are unlimited.")] = False
    credits_balance: Annotated[str, _d("Credit balance.")] = ""
    detailed_limits: Annotated[list[CodexLimit], _d("Per-model limits.")] = []
    rate_limit_reset_credits: Annotated[
        dict[str, Any], _d("Earned reset credits, as the backend reports them.")
    ] = {}
    updated_at: Annotated[str, _d("When it was reported (RFC 3339).")] = ""


class OAuthQuota(msgspec.Struct, omit_defaults=True):
    """The channel's row of channel_quota."""

    codex_quota: Annotated[CodexQuota, _d("Codex windows and credits.")]
    is_exceeded: Annotated[bool, _d("A 429 said the quota is used up.")] = False
    exceeded_at: Annotated[str, _d("When (RFC 3339).")] = ""
    recover_at: Annotated[str, _d("Until when (RFC 3339).")] = ""
    exceeded_reason: Annotated[str, _d("Why.")] = ""


class ResetOutcome(msgspec.Struct, omit_defaults=True):
    """What the reset-credit endpoint answered."""

    outcome: Annotated[str, _d("The backend's code, e.g. reset.")]
    idempotency_key: Annotated[str, _d("The redeem request id sent.")]
    windows_reset: Annotated[int, _d("Windows the credit reset.")] = 0


class OAuthStatus(msgspec.Struct, omit_defaults=True):
    """An openai-oauth channel's tokens and Codex quota."""

    channelId: Annotated[int, _d("Index of the channel in its pool.")]
    channelUid: Annotated[str, _d("Stable channel id.")]
    channelName: Annotated[str, _d("Display name.")]
    serviceType: Annotated[str, _d("Always openai-oauth.")]
    configured: Annotated[bool, _d("Whether it holds an access token.")]
    message: Annotated[str, _d("Why it is not configured.")] = ""
    status: Annotated[TokenStatus | None, _d("The tokens' claims.")] = None
    tokenStatus: Annotated[
        Literal["", "valid", "expiring_soon", "expired"], _d("Access token state.")
    ] = ""
    tokenExpiresIn: Annotated[int | None, _d("Seconds until it expires.")] = None
    quota: Annotated[OAuthQuota | None, _d("Quota last stored; absent = none yet.")] = None
    reset: Annotated[ResetOutcome | None, _d("The spent reset credit (reset-credit).")] = None


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
                    ok_schema=ref(OAuthStatus),
                )
            }
            paths[prefix + "/oauth/quota/refresh"] = {
                "post": spec.operation(
                    f"Refresh the Codex quota from the usage endpoint ({pool})",
                    tag,
                    params=params,
                    ok_schema=ref(OAuthStatus),
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
                    body=ref(ResetCreditBody),
                    body_required=False,
                    ok_schema=ref(OAuthStatus),
                    errors=upstream_errors,
                )
            }
    return paths


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
