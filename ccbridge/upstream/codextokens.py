"""The access tokens of ``openai-oauth`` channels, refreshed when due.

`CodexTokens.current` is on the request path: while the snapshot's access
token is not due (spec: refreshed a margin before it expires) it returns
it at once and never touches the database. A due token, or one the
upstream refused with a 401 (`refresh`), is refreshed once per process
(concurrent requests share one refresh) and once across instances: the
database elects the instance that spends the refresh token
(`ccbridge.store.oauthlease`); the others wait for the tokens it saves,
which a revision-checked config write brings to every instance. Until an
instance's snapshot has them, the tokens it learnt from the database
serve. Tokens never reach a log line or an error message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from ccbridge.db.base import Database
from ccbridge.store import oauthlease
from ccbridge.store.configwrite import ConfigWriter
from ccbridge.store.live import LiveConfig
from ccbridge.store.snapshot import Channel, OAuthTokens
from ccbridge.upstream.client import UpstreamClient, UpstreamUnavailable
from ccbridge.upstream.codexauth import (
    OAuthRefreshError,
    is_due,
    parse_token_answer,
    token_request_body,
    tokens_dict,
)

__all__ = ("CodexTokens", "tokens_from_dict")

log = logging.getLogger("ccbridge.oauth")

_TOKEN_TIMEOUT_S: Final = 30.0
# A lease outlives the token call it guards, so a live holder never loses it.
_LEASE_TTL_S: Final = _TOKEN_TIMEOUT_S + 15.0
_RECHECK_S: Final = 0.5  # a waiter asks the database again this often
_WATCH_S: Final = 0.02  # ... and looks at its own snapshot this often
_MAX_ERROR_DETAIL: Final = 200


def tokens_from_dict(raw: Mapping[str, Any]) -> OAuthTokens:
    """Return stored ``oauthTokens`` as OAuthTokens."""
    fields = ("access_token", "account_id", "id_token", "refresh_token", "last_refresh")
    return OAuthTokens(**{f: str(raw.get(f) or "") for f in fields})


class CodexTokens:
    """Hand out current access tokens; refresh them once, everywhere.

    Args:
        db: The shared database (the refresh lease).
        live: This instance's config snapshot.
        config: The config writer the new tokens are saved through.
        upstream: The HTTP client the token endpoint is called with.
        token_url: The OAuth token endpoint.
        holder: This instance's name in the lease.
    """

    def __init__(
        self,
        db: Database,
        live: LiveConfig,
        config: ConfigWriter,
        upstream: UpstreamClient,
        token_url: str,
        holder: str | None = None,
    ) -> None:
        self._db = db
        self._live = live
        self._config = config
        self._upstream = upstream
        self.token_url = token_url
        self.holder = holder or uuid.uuid4().hex
        # channel uid -> (the access token replaced, its successor): serves
        # until this instance's snapshot holds the successor.
        self._learnt: dict[str, tuple[str, OAuthTokens]] = {}
        self._inflight: dict[tuple[str, str], asyncio.Task[OAuthTokens]] = {}
        self.calls = 0  # token endpoint calls made by this instance

    def tokens(self, channel: Channel) -> OAuthTokens:
        """Return the newest tokens this instance knows for a channel."""
        tokens = channel.oauth_tokens or OAuthTokens()
        learnt = self._learnt.get(channel.uid)
        if learnt is not None:
            if learnt[0] == tokens.access_token:
                return learnt[1]
            del self._learnt[channel.uid]  # the snapshot caught up (or moved on)
        return tokens

    async def current(self, channel: Channel) -> OAuthTokens:
        """Return tokens to send now, refreshed first if due.

        Raises:
            OAuthRefreshError: The due refresh failed.
        """
        tokens = self.tokens(channel)
        if not is_due(tokens):
            return tokens
        return await self._refresh_once(channel, tokens.access_token)

    async def refresh(self, channel: Channel, seen: str) -> OAuthTokens:
        """Return tokens newer than ``seen`` (the upstream refused it).

        Raises:
            OAuthRefreshError: There is no refresh token, or the refresh failed.
        """
        tokens = self.tokens(channel)
        if tokens.access_token != seen:
            return tokens
        if not tokens.refresh_token:
            raise OAuthRefreshError("the access token was refused and there is no refresh token")
        return await self._refresh_once(channel, seen)

    async def _refresh_once(self, channel: Channel, seen: str) -> OAuthTokens:
        key = (channel.uid, seen)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._elect(channel, seen))
            self._inflight[key] = task
            task.add_done_callback(lambda _t: self._inflight.pop(key, None))
        # A client that leaves must not cancel the refresh others wait for.
        return await asyncio.shield(task)

    async def _elect(self, channel: Channel, seen: str) -> OAuthTokens:
        deadline = time.monotonic() + _LEASE_TTL_S + _RECHECK_S
        while True:
            try:
                claim = await oauthlease.claim(
                    self._db, channel.uid, seen, self.holder, _LEASE_TTL_S
                )
            except LookupError as ex:
                raise OAuthRefreshError(str(ex)) from None
            if isinstance(claim, oauthlease.Fresh):
                return self._learn(channel.uid, seen, tokens_from_dict(claim.tokens))
            if isinstance(claim, oauthlease.Claimed):
                return await self._refresh(channel, seen)
            if (newer := await self._watch(channel.uid, seen)) is not None:
                return newer
            if time.monotonic() > deadline:
                raise OAuthRefreshError("another instance's token refresh did not finish")

    async def _watch(self, uid: str, seen: str) -> OAuthTokens | None:
        """Wait a little for the snapshot to bring tokens newer than ``seen``."""
        until = time.monotonic() + _RECHECK_S
        while time.monotonic() < until:
            channel = self._live.snapshot.channels_by_uid.get(uid)
            tokens = channel.oauth_tokens if channel is not None else None
            if tokens is not None and tokens.access_token != seen:
                return tokens
            await asyncio.sleep(_WATCH_S)
        return None

    async def _refresh(self, channel: Channel, seen: str) -> OAuthTokens:
        """Spend the refresh token (this instance holds the lease); save the answer."""
        old = channel.oauth_tokens or OAuthTokens()
        try:
            new = await self._call_token_endpoint(old)
            stored = await oauthlease.save(self._config, channel.uid, seen, tokens_dict(new))
        except BaseException:
            await oauthlease.release(self._db, channel.uid, self.holder)
            raise
        log.info("oauth: refreshed the access token of channel %r", channel.name)
        return self._learn(channel.uid, seen, tokens_from_dict(stored))

    async def _call_token_endpoint(self, old: OAuthTokens) -> OAuthTokens:
        self.calls += 1
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        try:
            async with await self._upstream.send(
                "POST",
                self.token_url,
                headers,
                token_request_body(old.refresh_token),
                header_timeout=_TOKEN_TIMEOUT_S,
            ) as answer:
                with self._upstream.deadlines.within(_TOKEN_TIMEOUT_S):
                    body = await answer.read()
                status = answer.status
        except (UpstreamUnavailable, TimeoutError) as ex:
            raise OAuthRefreshError(f"token endpoint unreachable: {ex}") from None
        if status != 200:
            raise OAuthRefreshError(f"token endpoint answered {status}{_error_detail(body)}")
        return parse_token_answer(body, old, datetime.now(UTC))

    def _learn(self, uid: str, seen: str, tokens: OAuthTokens) -> OAuthTokens:
        self._learnt[uid] = (seen, tokens)
        return tokens


def _error_detail(body: bytes) -> str:
    """Return the OAuth error code of a refused refresh (never the body whole)."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    error = data.get("error")
    if isinstance(error, dict):
        error = error.get("code") or error.get("type") or error.get("message")
    text = str(error or "")[:_MAX_ERROR_DETAIL]
    return f" ({text})" if text else ""
