"""Send one client request upstream and relay the answer (spec §3.5–3.10).

Channels come from the scheduler in order, keys from the channel; every
failed attempt is decided by the failover rules (retry the key, next key,
suspend the channel, or return the error) and logged as its own row. The
first 2xx answer is relayed: small bodies whole, SSE streams chunk by chunk
as they arrive, with a tap reading usage on the way. Nothing is retried once
a byte has reached the client.

A channel's content filter (spec §3.6) turns a 2xx answer holding a
keyword into a synthetic error that the failover rules decide like any
non-2xx answer. So it sees only what has not gone out yet: a whole body,
and of a stream the start up to its first text (held for the check).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from ccbridge import metrics
from ccbridge.access.permissions import CHANNEL_NOT_ALLOWED, channel_allowed
from ccbridge.convert import ConversionError
from ccbridge.proxy import contentfilter
from ccbridge.proxy.adapters import Adapter, Converting, adapter_for
from ccbridge.proxy.clientwatch import ClientWatch
from ccbridge.proxy.debuglog import BodyCapture, debug_row
from ccbridge.proxy.errors import ProxyError, openai_body
from ccbridge.proxy.identity import RequestIdentity
from ccbridge.proxy.jsonread import loads as json_loads
from ccbridge.proxy.learned import ConfigLearner
from ccbridge.proxy.pricing import price_request
from ccbridge.proxy.record import LogRecord
from ccbridge.proxy.streamlimits import bounded_chunks, error_event
from ccbridge.proxy.usage import SseUsageTap, StreamProtocol, UsageReport, usage_from_json
from ccbridge.routing.composite import CompositeRoute, composite_route
from ccbridge.routing.rules import Action, Decision, FailoverPolicy, suspend_until
from ccbridge.routing.scheduler import NO_CHANNELS_CONFIGURED, ChannelScheduler
from ccbridge.settings import Settings
from ccbridge.store.budgets import BudgetBook
from ccbridge.store.codexquota import (
    has_codex_headers,
    mark_exceeded,
    quota_from_headers,
    quota_row,
)
from ccbridge.store.configwrite import ConfigWriter
from ccbridge.store.live import LiveConfig
from ccbridge.store.mapping import redirect_channel_model
from ccbridge.store.quota import QuotaBook
from ccbridge.store.snapshot import Channel, ClientKey, ContentFilterRule, OAuthTokens, Snapshot
from ccbridge.store.suspensions import Suspensions
from ccbridge.store.writer import Writer
from ccbridge.upstream.client import (
    OutboundHeaders,
    UAFamily,
    UpstreamClient,
    UpstreamResponse,
    UpstreamUnavailable,
    build_outbound_headers,
)
from ccbridge.upstream.codexauth import OAuthRefreshError, with_codex_auth
from ccbridge.upstream.codextokens import CodexTokens

__all__ = ("Call", "Relay", "Reply")

Receive = Callable[[], Awaitable[Mapping[str, Any]]]

_SSE_HEADERS = (
    ("Content-Type", "text/event-stream"),
    ("Cache-Control", "no-cache"),
    ("X-Accel-Buffering", "no"),
)
# Ours replace the upstream's: a repeated Cache-Control would read "no-cache, no-cache".
_SSE_HEADER_NAMES = frozenset(name.lower() for name, _ in _SSE_HEADERS)
_MAX_ERROR_TEXT = 2000
_MAX_UNPRICED_WARNINGS = 1000  # distinct models warned about; bounds the set

log = logging.getLogger("ccbridge.relay")
# Messages-pool channel types that serve Claude's `speed: "fast"` as the
# priority tier, at twice the price (spec §3.9); a claude channel passes it on.
_FAST_TIER_TYPES = frozenset({"responses", "openai-oauth"})


@dataclass(slots=True)
class Call:
    """One client request, parsed and authorised."""

    pool: str  # "messages" or "responses"
    endpoint: str  # the log endpoint, e.g. "/v1/messages"
    path: str  # the client path, forwarded for claude channels
    query: str
    body: bytes
    payload: dict[str, Any]
    model: str
    stream: bool
    key: ClientKey
    identity: RequestIdentity
    headers: Mapping[str, str]
    receive: Receive | None = None
    counted: bool = True  # uses quota (count_tokens does not)
    logged: bool = True  # writes request log rows (REQUEST_LOGS, and counted)
    watch: ClientWatch | None = None  # set while the relay serves the call
    current: LogRecord | None = None  # the attempt's record, last handed to the writer
    rate_limited: list[tuple[str, str]] = field(default_factory=list)  # (channel uid, key)
    routed_model: str = ""  # the model a composite's targets are asked for, when routed
    request_id: str = ""  # x-request-id, stored in each of its log rows
    transport: str = ""  # the log rows' transport when not the HTTP one ("ws")


@dataclass(slots=True)
class Reply:
    """What to answer the client: a whole body or a stream of chunks."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None


@dataclass(slots=True)
class _Failed:
    """A non-2xx answer, or a 2xx one the content filter refused."""

    status: int
    body: bytes
    error: str  # the log row's error when it goes back to the client


@dataclass(slots=True)
class _Next:
    """A channel gave up: the next attempt's record and the last error."""

    record: LogRecord
    last: Reply | None


class Relay:
    """The attempt loop of the proxy."""

    def __init__(
        self,
        *,
        settings: Settings,
        live: LiveConfig,
        scheduler: ChannelScheduler,
        policy: FailoverPolicy,
        suspensions: Suspensions,
        quota: QuotaBook,
        budgets: BudgetBook,
        writer: Writer,
        upstream: UpstreamClient,
        config: ConfigWriter,
        codex_tokens: CodexTokens,
    ) -> None:
        self.settings = settings
        self.codex_tokens = codex_tokens
        self.live = live
        self.scheduler = scheduler
        self.policy = policy
        self.suspensions = suspensions
        self.quota = quota
        self.budgets = budgets
        self._unpriced: set[str] = set()  # models warned about (no price)
        self.writer = writer
        self.upstream = upstream
        self.learner = ConfigLearner(config, live)

    async def run(self, call: Call) -> Reply:
        """Serve a call from the first channel that answers.

        A client that hangs up stops the call wherever it is (an upstream
        call, a retry wait, a queue); its last attempt is logged 499.
        """
        receive, deadlines = call.receive, self.upstream.deadlines
        watch = call.watch = ClientWatch(receive, deadlines) if receive else None
        try:
            return await self._attempts(call)
        except asyncio.CancelledError:
            if watch is None or not watch.gone:
                raise
            watch.uncancel()
            await self._client_left(call)
            return Reply(499)
        finally:
            if watch is not None and not watch.following:  # else the stream stops it
                watch.stop()

    async def _client_left(self, call: Call) -> None:
        record = call.current
        if record is None:
            return
        if record.status != "pending":  # it left during a retry wait
            record = record.next_attempt()
        record.finish("error", 499, "client disconnected")
        await self._log(call, record)

    async def _attempts(self, call: Call) -> Reply:
        snap = self.live.snapshot
        record = self._new_record(call)
        await self._log(call, record)
        failed: set[str] = set()
        last: Reply | None = None
        plan = None
        while True:
            plan = self.scheduler.plan(
                snap,
                call.pool,
                client_key=call.key,
                client_id=call.identity.client_id,
                failed=failed,
                suspensions=self.suspensions.until,
                quota_exhausted=self.quota.exhausted,
            )
            if plan.first is None:
                break
            channel = plan.first.channel
            failed.add(channel.uid)
            if channel.is_composite:
                route = composite_route(channel, call.model, snap, single=not plan.multi_channel)
                if route is not None:  # routed: only its chain is tried from here on
                    return await self._via_composite(call, snap, route, record)
                if not plan.multi_channel:
                    break
                continue
            if channel.rate_limit_rpm and not await self.scheduler.rpm.acquire(channel):
                continue
            outcome = await self._try_channel(call, snap, channel, record)
            if isinstance(outcome, Reply):
                return outcome
            record, last = outcome.record, outcome.last or last
            if not plan.multi_channel:
                break
        return await self._give_up(
            call, record, last, plan.error if plan else None, plan.details() if plan else ""
        )

    async def _via_composite(
        self, call: Call, snap: Snapshot, route: CompositeRoute, record: LogRecord
    ) -> Reply:
        """Serve the call from a composite's chain: primary target, then failover targets."""
        call.routed_model = route.model
        record.routed_via = route.composite.uid
        targets = [t for t in route.targets if channel_allowed(call.key, t.pool, t.uid)]
        if route.targets and not targets:
            return await self._give_up(call, record, None, CHANNEL_NOT_ALLOWED, "")
        now = datetime.now(UTC)
        last: Reply | None = None
        for target in targets:
            until = self.suspensions.until.get(target.uid)
            if (until is not None and until > now) or self.quota.exhausted(target):
                continue
            if target.rate_limit_rpm and not await self.scheduler.rpm.acquire(target):
                continue
            outcome = await self._try_channel(call, snap, target, record)
            if isinstance(outcome, Reply):
                return outcome
            record, last = outcome.record, outcome.last or last
        details = f"composite {route.composite.name!r} has no usable target for {call.model!r}"
        return await self._give_up(call, record, last, None, details)

    async def _give_up(
        self, call: Call, record: LogRecord, last: Reply | None, error: str | None, details: str
    ) -> Reply:
        if last is not None:
            record.finish("error", last.status, "all channels failed", _text(last.body))
            await self._log(call, record)
            return last
        if error == CHANNEL_NOT_ALLOWED:
            record.finish("error", 403, "channel not allowed")
            await self._log(call, record)
            raise ProxyError(
                403, "no channel of this pool is allowed for this key", CHANNEL_NOT_ALLOWED
            )
        if error == NO_CHANNELS_CONFIGURED:
            # NOTE(relay): 404, not 503: a setup to fix, which SDKs must not
            # retry as an overload (they retry 408, 409, 429 and 5xx).
            message = f"no channel is configured for the {call.pool} pool" + (
                f" ({details})" if details else ""
            )
            record.finish("error", 404, message)
            await self._log(call, record)
            raise ProxyError(404, message, NO_CHANNELS_CONFIGURED)
        message = "all channels unavailable" + (f": {details}" if details else "")
        record.finish("error", 503, message)
        await self._log(call, record)
        raise ProxyError(503, message, "NO_CHANNEL_AVAILABLE")

    async def _try_channel(
        self, call: Call, snap: Snapshot, channel: Channel, record: LogRecord
    ) -> Reply | _Next:
        tried: list[str] = []
        last: Reply | None = None
        domain = _domain(channel.base_url)
        try:
            mapped = self._mapped(call, channel)
            adapter = adapter_for(
                call.pool, channel, call.payload, mapped, call.identity.session_id
            )
        except ConversionError as ex:  # this channel's API cannot carry the request
            record.attach(channel, domain)
            info = f"convert > failover > {ex}"
            record = await self._next_attempt(call, record, "failover", 0, info, str(ex))
            return _Next(
                record, Reply(400, [("Content-Type", "application/json")], _invalid(call.pool, ex))
            )
        while (picked := self.scheduler.select_key(snap, channel, tried)) is not None:
            key, oauth, refreshed = picked, None, False
            if _uses_oauth(channel):  # its key is the access token, refreshed when due
                try:
                    oauth = await self.codex_tokens.current(channel)
                except OAuthRefreshError as ex:
                    return await self._oauth_failed(call, record, channel, domain, ex)
                key = oauth.access_token
            while True:
                record.attach(channel, domain)
                try:
                    up, removed = await self._send(call, snap, channel, key, adapter, oauth)
                    if 200 <= up.status < 300:
                        served = await (
                            self._converted(call, snap, channel, key, up, record, adapter, removed)
                            if isinstance(adapter, Converting)
                            else self._success(call, snap, channel, key, up, record, removed)
                        )
                        if isinstance(served, Reply):
                            return served
                        failed = served  # the content filter refused it
                    elif up.status == 401 and oauth is not None and not refreshed:
                        # The access token was refused: refresh it once, then retry.
                        refreshed = True
                        record = await self._token_refused(call, record, await self._read_error(up))
                        try:
                            oauth = await self.codex_tokens.refresh(channel, oauth.access_token)
                        except OAuthRefreshError as ex:
                            return await self._oauth_failed(call, record, channel, domain, ex)
                        key = oauth.access_token
                        continue
                    else:
                        error = f"upstream returned {up.status}"
                        failed = _Failed(up.status, await self._read_error(up), error)
                except UpstreamUnavailable as ex:  # no byte has reached the client
                    self.scheduler.keys.mark_failed(channel.pool, picked)
                    self.scheduler.record_failure(channel)
                    info = f"{ex.phase} > failover > {ex}"
                    record = await self._next_attempt(call, record, "failover", 0, info, str(ex))
                    tried.append(picked)
                    break
                body = failed.body  # the failover rules read the upstream's own
                out = (
                    adapter.error_body(failed.status, body)
                    if isinstance(adapter, Converting)
                    else body
                )
                last = Reply(failed.status, [("Content-Type", "application/json")], out)
                decision = self.policy.decide(channel.uid, key, failed.status, body)
                if decision.action is Action.NONE:
                    record.failover_info = decision.failover_info
                    record.finish("error", failed.status, failed.error, _text(body))
                    await self._log(call, record)
                    return last
                self.scheduler.record_failure(channel)
                outcome = await self._after_failure(call, channel, key, decision, record, body)
                if outcome is None:  # retry the same key
                    record = await self._retry(call, record, decision, body)
                    continue
                record = outcome
                if decision.action is Action.SUSPEND:
                    return _Next(record, last)
                tried.append(picked)
                break
        return _Next(record, last)

    async def _token_refused(self, call: Call, record: LogRecord, body: bytes) -> LogRecord:
        """Log a 401 of an OAuth channel as a retry: its token is refreshed first."""
        record.failover_info = "401 > refresh oauth token > retry"
        record.finish("retry_wait", 401, "401: access token refused, refreshing", _text(body))
        await self._log(call, record)
        nxt = record.next_attempt()
        await self._log(call, nxt)
        return nxt

    async def _oauth_failed(
        self, call: Call, record: LogRecord, channel: Channel, domain: str, ex: OAuthRefreshError
    ) -> _Next:
        """Give up on an OAuth channel whose token could not be refreshed."""
        record.attach(channel, domain)
        message = f"openai-oauth channel {channel.name!r}: access token refresh failed: {ex}"
        record = await self._next_attempt(call, record, "failover", 502, f"oauth > {ex}", message)
        return _Next(
            record,
            Reply(502, [("Content-Type", "application/json")], _error(call.pool, 502, message)),
        )

    async def _after_failure(
        self,
        call: Call,
        channel: Channel,
        key: str,
        decision: Decision,
        record: LogRecord,
        body: bytes,
    ) -> LogRecord | None:
        """Apply a failover decision; None means retry the same key."""
        if decision.action is Action.RETRY:
            return None
        if decision.action is Action.SUSPEND:
            until = suspend_until(channel, datetime.now(UTC))
            self.suspensions.suspend(channel, until, decision.failover_info)
        elif decision.mark_key_failed:
            self.scheduler.keys.mark_failed(channel.pool, key)
        if decision.deprioritize_key:
            call.rate_limited.append((channel.uid, key))
        return await self._next_attempt(
            call, record, "failover", decision.status, decision.failover_info, _text(body)
        )

    async def _retry(
        self, call: Call, record: LogRecord, decision: Decision, body: bytes
    ) -> LogRecord:
        record.failover_info = decision.failover_info
        record.finish(
            "retry_wait",
            decision.status,
            f"{decision.status}: retry in {decision.wait_seconds:g}s",
            _text(body),
        )
        await self._log(call, record)
        # The wait belongs to no attempt: the next row starts after it.
        await asyncio.sleep(decision.wait_seconds)
        nxt = record.next_attempt()
        await self._log(call, nxt)
        return nxt

    async def _next_attempt(
        self, call: Call, record: LogRecord, kind: str, status: int, info: str, upstream_error: str
    ) -> LogRecord:
        record.failover_info = info
        record.finish(
            kind,
            status,
            f"{status}: failover to next attempt" if status else "connection failed",
            upstream_error,
        )
        await self._log(call, record)
        nxt = record.next_attempt()
        await self._log(call, nxt)
        return nxt

    def _mapped(self, call: Call, channel: Channel) -> str:
        return redirect_channel_model(channel, call.routed_model or call.model)

    async def _send(
        self,
        call: Call,
        snap: Snapshot,
        channel: Channel,
        key: str,
        adapter: Adapter,
        oauth: OAuthTokens | None = None,
    ) -> tuple[UpstreamResponse, tuple[str, ...]]:
        converting = isinstance(adapter, Converting)
        if isinstance(adapter, Converting):
            out = adapter.request(channel)
        else:
            out = adapter.request(
                channel,
                path=call.path,
                query=call.query,
                body=call.body,
                model=self._mapped(call, channel),
                client_model=call.model,
                stream=call.stream,
            )
        family: UAFamily = "messages" if call.pool == "messages" else "responses"
        # Claude Code and Codex UAs are checked and learned (spec §3.3); a Chat
        # or Gemini client's own UA goes upstream as it came.
        learns = call.pool in _UA_POOLS
        overrides = out.overrides
        if not learns and (client_ua := _client_ua(call.headers)):
            overrides = {**(overrides or {}), "User-Agent": client_ua}
        headers: OutboundHeaders = build_outbound_headers(
            call.headers,
            api_key=key,
            ua_family=family,
            fallback_user_agent=snap.user_agents.get(call.pool),
            strip_rules=self.upstream.strip_rules,
            overrides=overrides,
        )
        headers = adapter.headers(headers, channel, key)
        if oauth is not None:
            headers = with_codex_auth(headers, oauth)
        if learns and headers.client_user_agent_valid:
            self.learner.offer_user_agent(family, headers.user_agent)
        if call.transport == "ws" and channel.responses_websocket_enabled and not converting:
            # A WebSocket client's turn on a WebSocket-capable channel.
            up = await self.upstream.send_websocket(
                out.url,
                headers,
                out.body,
                header_timeout=channel.response_header_timeout,
                insecure_skip_verify=channel.insecure_skip_verify,
            )
            return up, headers.removed
        up = await self.upstream.send(
            "POST",
            out.url,
            headers,
            out.body,
            header_timeout=channel.response_header_timeout,
            insecure_skip_verify=channel.insecure_skip_verify,
        )
        if oauth is not None and has_codex_headers(up.headers):
            self._codex_quota(channel, up)
        return up, headers.removed

    def _codex_quota(self, channel: Channel, up: UpstreamResponse) -> None:
        """Hand the quota an answer reports to the writer (never awaited)."""
        quota = quota_from_headers(up.headers, datetime.now(UTC))
        if quota is None:
            return
        row = quota_row(channel.uid, channel.name, channel.index, quota)
        if up.status == 429:
            retry_after = next((v for n, v in up.headers if n.lower() == "retry-after"), None)
            mark_exceeded(row, retry_after)
        self.writer.codex_quota(row)

    async def _read_error(self, up: UpstreamResponse) -> bytes:
        try:
            return await up.read()
        except UpstreamUnavailable as ex:
            return json.dumps({"error": {"message": str(ex)}}).encode()
        finally:
            up.release()

    async def _success(
        self,
        call: Call,
        snap: Snapshot,
        channel: Channel,
        key: str,
        up: UpstreamResponse,
        record: LogRecord,
        removed: tuple[str, ...],
    ) -> Reply | _Failed:
        """Relay a 2xx answer; UpstreamUnavailable if it breaks before any byte went out.

        A content filter hit is no answer: it comes back as a _Failed, to be
        decided by the failover rules, the upstream released.
        """
        protocol = _POOL_PROTOCOLS.get(call.pool, StreamProtocol.OPENAI)
        is_sse = "text/event-stream" in (up.content_type or "")
        if call.stream and is_sse:
            return await self._stream(call, snap, channel, key, up, record, protocol, removed)
        try:
            with self.upstream.deadlines.within(self.settings.request_timeout_ms / 1000):
                body = await up.read()
        except TimeoutError as ex:
            record.finish("error", 502, f"upstream body failed: {ex}")
            await self._log(call, record)
            raise ProxyError(502, "upstream response broke off") from None
        finally:
            up.release()
        if not up.content_encoding and not _is_json(body):
            # As a broken connection: nothing went out, the next key serves.
            raise UpstreamUnavailable(_domain(channel.base_url), "body", "body is not valid JSON")
        cf = channel.content_filter
        if cf is not None and cf.enabled and not up.content_encoding:
            hit = contentfilter.find_match(body, cf)
            if hit is not None:
                return _refused(hit)
        report = usage_from_json(body, protocol) if not up.content_encoding else UsageReport()
        # An error body is no success, whatever the status (and uses no quota).
        error = report.error_message or report.error_type
        if not error:
            self._succeeded(call, channel, key)
        await self._settle(call, snap, channel, record, report, up.status, error)
        await self._debug_whole(call, snap, record, removed, up.status, up.headers, body)
        return Reply(up.status, list(up.headers), body)

    async def _converted(
        self,
        call: Call,
        snap: Snapshot,
        channel: Channel,
        key: str,
        up: UpstreamResponse,
        record: LogRecord,
        adapter: Converting,
        removed: tuple[str, ...],
    ) -> Reply | _Failed:
        """Relay a 2xx answer converted to Messages (see `adapters`).

        UpstreamUnavailable, like a break, when nothing went out yet and the
        answer is broken, cut or not convertible: the next key serves. The
        content filter and debug capture read what the client gets.
        """
        if call.stream:
            return await self._converted_stream(
                call, snap, channel, key, up, record, adapter, removed
            )
        try:
            with self.upstream.deadlines.within(self.settings.request_timeout_ms / 1000):
                raw = await up.read()
            body, report = adapter.convert_body(raw)
        except TimeoutError as ex:
            record.finish("error", 502, f"upstream body failed: {ex}")
            await self._log(call, record)
            raise ProxyError(502, "upstream response broke off") from None
        except ConversionError as ex:
            raise UpstreamUnavailable(_domain(channel.base_url), "body", str(ex)) from None
        finally:
            up.release()
        cf = channel.content_filter
        if cf is not None and cf.enabled and (hit := contentfilter.find_match(body, cf)):
            return _refused(hit)
        self._succeeded(call, channel, key)
        await self._settle(call, snap, channel, record, report, up.status)
        headers = [("Content-Type", "application/json")]
        await self._debug_whole(call, snap, record, removed, up.status, tuple(headers), body)
        return Reply(up.status, headers, body)

    async def _converted_stream(
        self,
        call: Call,
        snap: Snapshot,
        channel: Channel,
        key: str,
        up: UpstreamResponse,
        record: LogRecord,
        adapter: Converting,
        removed: tuple[str, ...],
    ) -> Reply | _Failed:
        host = _domain(channel.base_url)
        converted = adapter.stream(host, self._bounded(up, host))
        try:
            held = await converted.start()
        except BaseException:  # a break (the next key serves) or the client left
            up.close()
            raise
        # Only the held start (up to the first content) can be filtered.
        cf = channel.content_filter
        if cf is not None and cf.enabled and (hit := contentfilter.find_match(b"".join(held), cf)):
            up.close()
            return _refused(hit)
        capture = BodyCapture(snap.debug_log.max_body_size) if snap.debug_log.enabled else None
        self._succeeded(call, channel, key)
        watch = call.watch
        if watch is not None:
            watch.follow(up)

        async def relay() -> AsyncIterator[bytes]:
            try:
                for chunk in held:
                    if capture is not None:
                        capture.add(chunk)
                    yield chunk
                async for chunk in converted.rest():
                    if capture is not None:
                        capture.add(chunk)
                    yield chunk
            finally:
                if watch is not None:
                    watch.stop()
                up.release()
                report = converted.report()
                if report.first_token_at is not None:
                    record.first_token_time = datetime.fromtimestamp(report.first_token_at, UTC)
                if watch is not None and watch.gone:
                    status, error = 499, "client disconnected"
                elif converted.broke:
                    status, error = 502, f"upstream stream broke off: {converted.broke}"
                else:
                    status, error = 200, report.error_message
                await self._settle(call, snap, channel, record, report, status, error)
                if capture is not None:
                    await self._debug(call, record, removed, up.status, _SSE_HEADERS, capture)

        return Reply(up.status, list(_SSE_HEADERS), stream=relay())

    def _bounded(self, up: UpstreamResponse, host: str) -> AsyncIterator[bytes]:
        """The upstream body, cut by the stream idle timeout and overall limit."""
        return bounded_chunks(
            up.iter_chunks(),
            self.upstream.deadlines,
            host,
            idle=self.settings.stream_idle_timeout_ms / 1000,
            overall=self.settings.stream_max_duration_ms / 1000,
        )

    def _succeeded(self, call: Call, channel: Channel, key: str) -> None:
        self.policy.record_success(channel.uid, key)
        self.scheduler.record_success(channel, call.identity.client_id)
        if call.rate_limited:  # another key of the channel served: those go last
            limited = [k for uid, k in call.rate_limited if uid == channel.uid and k != key]
            self.learner.demote_keys(channel, limited)

    async def _stream(
        self,
        call: Call,
        snap: Snapshot,
        channel: Channel,
        key: str,
        up: UpstreamResponse,
        record: LogRecord,
        protocol: StreamProtocol,
        removed: tuple[str, ...],
    ) -> Reply | _Failed:
        tap = SseUsageTap(protocol, clock=time.time)
        # An encoded stream (the upstream ignored Accept-Encoding: identity)
        # is relayed as it comes, unread: its usage stays unknown.
        plain = not up.content_encoding
        feed = tap.feed if plain else _ignore
        capture = BodyCapture(snap.debug_log.max_body_size) if snap.debug_log.enabled else None
        host = _domain(channel.base_url)
        chunks = self._bounded(up, host)
        held: list[bytes] = []
        unread = b""
        cf = channel.content_filter
        if cf is not None and not (plain and contentfilter.is_active(cf)):
            cf = None  # off, or an encoded stream it cannot read
        if plain:
            try:
                # A Chat stream is held until its first content (its first
                # chunk is only the role): a break before it fails over.
                held, unread = await self._hold_start(
                    chunks, tap, host, protocol, until_text=cf is not None or call.pool == "chat"
                )
            except BaseException:  # a break (the next key serves) or the client left
                up.close()
                raise
        # Only the held start can be filtered: once a byte went out, nothing is.
        if cf is not None and (hit := contentfilter.find_match(b"".join(held), cf)) is not None:
            up.close()
            return _refused(hit)
        if protocol is StreamProtocol.CLAUDE and tap.has_error and not tap.output_started:
            up.close()
            record.finish("error", 502, tap.error_message)
            await self._log(call, record)
            raise ProxyError(
                502,
                f"upstream returned Claude stream error: {tap.error_message}",
                "UPSTREAM_STREAM_ERROR",
            )
        self._succeeded(call, channel, key)
        watch = call.watch
        if watch is not None:
            watch.follow(up)
        headers = [(n, v) for n, v in up.headers if n.lower() not in _SSE_HEADER_NAMES]
        headers += _SSE_HEADERS

        async def relay() -> AsyncIterator[bytes]:
            broke = reason = ""
            tail = b"\n\n"
            try:
                try:
                    for chunk in held:
                        if capture is not None:
                            capture.add(chunk)
                        yield chunk
                        tail = chunk[-2:]
                    feed(unread)  # PERF(proxy): after the first byte is out
                    async for chunk in chunks:
                        feed(chunk)
                        if capture is not None:
                            capture.add(chunk)
                        yield chunk
                        tail = chunk[-2:]
                    if plain and _incomplete(tap):
                        reason = _NO_TERMINAL_EVENT
                        broke = f"upstream {host} unavailable (body): {reason}"
                except UpstreamUnavailable as ex:
                    broke, reason = str(ex), ex.reason
                if broke and plain and not (watch is not None and watch.gone):
                    # Output began: end with the API's own error, never a silent cut.
                    event = error_event(
                        protocol, f"upstream stream broke off: {reason}", chat=call.pool == "chat"
                    )
                    event = event if tail == b"\n\n" else b"\n\n" + event
                    if capture is not None:
                        capture.add(event)
                    yield event
            finally:
                if watch is not None:
                    watch.stop()
                up.release()
                gone = watch is not None and watch.gone
                await self._end_stream(call, snap, channel, record, tap, gone, broke)
                if capture is not None:
                    await self._debug(call, record, removed, up.status, up.headers, capture)

        return Reply(up.status, headers, stream=relay())

    async def _hold_start(
        self,
        chunks: AsyncIterator[bytes],
        tap: SseUsageTap,
        host: str,
        protocol: StreamProtocol,
        *,
        until_text: bool = False,
    ) -> tuple[list[bytes], bytes]:
        """Hold message_start until the next event (an early error is a 502).

        A Responses stream is held until its first event. A body that ends
        before its terminal event, or holds no event at all (no SSE), is
        a break like a dropped connection.

        With ``until_text`` (a content filter to apply, any pool) the
        stream is held until its first content token instead, or an error,
        or `contentfilter.HOLD_LIMIT` bytes: the filter reads the held
        bytes, and after the first byte went out nothing is filtered.

        Returns the held chunks and the tail of the last one that the tap
        has not read: once output began no error can make the stream a
        502, so that tail is read after the held chunks went out. A break
        while holding raises UpstreamUnavailable: nothing went out yet, so
        the next key may serve the call.
        """
        held: list[bytes] = []
        size = 0
        events = 2 if protocol is StreamProtocol.CLAUDE else 1
        while (
            not tap.has_error
            and size < contentfilter.HOLD_LIMIT
            and (
                not tap.token_seen
                if until_text
                else (tap.events < events and not tap.output_started)
            )
        ):
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                if _incomplete(tap):
                    raise UpstreamUnavailable(host, "body", _NO_TERMINAL_EVENT) from None
                break
            held.append(chunk)
            size += len(chunk)
            fed = tap.feed_until_output(chunk, token=until_text)
            if fed < len(chunk):
                return held, chunk[fed:]
        if tap.events == 0:
            raise UpstreamUnavailable(host, "body", "body is not an event stream")
        return held, b""

    async def _end_stream(
        self,
        call: Call,
        snap: Snapshot,
        channel: Channel,
        record: LogRecord,
        tap: SseUsageTap,
        client_gone: bool,
        broke: str,
    ) -> None:
        tap.finish()
        report = tap.report()
        if report.first_token_at is not None:
            record.first_token_time = datetime.fromtimestamp(report.first_token_at, UTC)
        if client_gone:
            await self._settle(call, snap, channel, record, report, 499, "client disconnected")
        elif broke:
            await self._settle(
                call, snap, channel, record, report, 502, f"upstream stream broke off: {broke}"
            )
        elif report.has_error:
            await self._settle(
                call, snap, channel, record, report, 200, report.error_message or report.error_type
            )
        else:
            await self._settle(call, snap, channel, record, report, 200)

    async def _settle(
        self,
        call: Call,
        snap: Snapshot,
        channel: Channel,
        record: LogRecord,
        report: UsageReport,
        http_status: int,
        error: str = "",
    ) -> None:
        usage = report.usage
        record.set_usage(usage, report.model)
        priced = price_request(
            snap.pricing,
            channel,
            requested_model=call.model,
            response_model=report.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_creation_tokens=usage.cache_creation_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            fast=call.identity.fast
            and (call.pool != "messages" or channel.service_type in _FAST_TIER_TYPES),
        )
        record.set_cost(priced)
        if not priced.has_price:
            self._warn_unpriced(priced.priced_model)
        failed = bool(error) or http_status >= 400
        record.finish("error" if failed else "completed", http_status, error)
        await self._log(call, record)
        if not failed and call.counted:
            self.quota.record(channel, call.model, priced.cost.total)
        if call.counted and call.key.has_budget:
            # Whatever the outcome: a stream cut after some tokens cost them, as logged.
            waiting = self.budgets.record(
                call.key, priced.cost.total, usage.total_tokens, self.budgets.clock()
            )
            if waiting is not None:  # the writer is full: back-pressure
                await waiting

    def _warn_unpriced(self, model: str) -> None:
        """Warn once per model per process that it is logged at cost 0."""
        if model in self._unpriced or len(self._unpriced) >= _MAX_UNPRICED_WARNINGS:
            return
        self._unpriced.add(model)
        log.warning("model %r has no price: its requests are logged at cost 0", model)

    async def _debug_whole(
        self,
        call: Call,
        snap: Snapshot,
        record: LogRecord,
        removed: tuple[str, ...],
        status: int,
        headers: tuple[tuple[str, str], ...],
        body: bytes,
    ) -> None:
        """Capture a whole (non-stream) answer when debug capture is on."""
        if snap.debug_log.enabled:
            capture = BodyCapture(snap.debug_log.max_body_size)
            capture.add(body)
            await self._debug(call, record, removed, status, headers, capture)

    async def _debug(
        self,
        call: Call,
        record: LogRecord,
        removed: tuple[str, ...],
        status: int,
        headers: tuple[tuple[str, str], ...],
        response: BodyCapture,
    ) -> None:
        if not call.logged:
            return
        row = debug_row(
            log_id=record.id,
            path=call.path,
            request_headers=call.headers,
            removed_headers=removed,
            request_body=call.body,
            response_status=status,
            response_headers=headers,
            response=response,
        )
        waiting = self.writer.debug(row)
        if waiting is not None:
            await waiting

    def _new_record(self, call: Call) -> LogRecord:
        ident = call.identity
        record = LogRecord(
            model=call.model,
            stream=call.stream,
            endpoint=call.endpoint,
            client_id=ident.client_id,
            session_id=ident.session_id,
            api_key_id=call.key.id,
            reasoning_effort=ident.reasoning_effort,
        )
        record.service_tier = ident.service_tier
        record.request_id = call.request_id
        record.transport = call.transport
        return record

    async def _log(self, call: Call, record: LogRecord) -> None:
        call.current = record
        metrics.attempt(record)
        if not call.logged:
            return
        waiting = self.writer.log(record)
        if waiting is not None:  # the writer is full: back-pressure
            await waiting


def _invalid(pool: str, ex: ConversionError) -> bytes:
    return _error(pool, 400, str(ex))


def _error(pool: str, status: int, message: str) -> bytes:
    """Return an error body in the client API's shape."""
    if pool != "messages":  # OpenAI's shape (Chat, Responses)
        return openai_body(status, message)
    kind = "invalid_request_error" if status == 400 else "api_error"
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()


def _uses_oauth(channel: Channel) -> bool:
    """Return whether a channel's credential is its OAuth access token."""
    return channel.service_type == "openai-oauth" and not channel.api_keys


_NO_TERMINAL_EVENT = "stream ended without its terminal event"
_UA_POOLS = frozenset({"messages", "responses"})


def _client_ua(headers: Mapping[str, str]) -> str | None:
    for name, value in headers.items():
        if name.lower() == "user-agent":
            return value
    return None


_POOL_PROTOCOLS = {"messages": StreamProtocol.CLAUDE, "gemini": StreamProtocol.GEMINI}


def _ignore(chunk: bytes) -> None:
    pass


def _incomplete(tap: SseUsageTap) -> bool:
    """Return whether a finished stream lacked its terminal event."""
    tap.finish()
    return not tap.has_error and not tap.report().completed


def _is_json(body: bytes) -> bool:
    try:
        json_loads(body)
    except (ValueError, RecursionError):
        return False
    return True


def _refused(rule: ContentFilterRule) -> _Failed:
    """Return the synthetic error of a content filter hit (spec §3.6)."""
    message = f"content_filter: {rule.keyword}"
    return _Failed(rule.status_code, contentfilter.synthetic_body(rule), message)


@functools.lru_cache(maxsize=256)  # PERF(proxy): one per channel base URL
def _domain(base_url: str) -> str:
    return urlsplit(base_url).hostname or ""


def _text(body: bytes) -> str:
    return body[:_MAX_ERROR_TEXT].decode("utf-8", "replace")
