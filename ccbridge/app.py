"""create_app(settings) -> the ASGI application.

Startup (Falcon lifespan, so a failure is a failed startup, not a failed
first request): open the database, apply migrations, load the config
snapshot, start the writer, the upstream client and the reloader. Shutdown
runs in reverse and drains the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import falcon
import falcon.asgi

from ccbridge import admin, gctune, logsetup, ui
from ccbridge.access.guard import BLOCKED_MESSAGE, AccessGuard
from ccbridge.admin.common import AdminAuth, AdminError, render_admin_error, render_http_error
from ccbridge.cors import Cors
from ccbridge.db.base import Database, connect
from ccbridge.db.migrate import migrate
from ccbridge.db.startup import open_with_retries
from ccbridge.errors import StaleRevision
from ccbridge.legacy.importer import import_on_start
from ccbridge.proxy import observe, resources, wsresponses
from ccbridge.proxy.debuglog import mask_stored_headers
from ccbridge.proxy.errors import ProxyError, anthropic_body, gemini_body, openai_body
from ccbridge.proxy.relay import Relay
from ccbridge.runtime import Runtime
from ccbridge.settings import Settings, environ_with_dotenv
from ccbridge.store.defaults import seed_defaults
from ccbridge.store.liveness import Liveness
from ccbridge.store.loader import load_snapshot
from ccbridge.store.snapshot import Snapshot
from ccbridge.upstream.client import is_v1_path

__all__ = ("Gateway", "create_app", "factory")

_UNAUTHORIZED: Final = (401, "401 Unauthorized")

log = logging.getLogger("ccbridge")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]


class Gateway:
    """The ASGI callable: Falcon plus the runtime it serves from.

    It puts the ASGI ``receive`` into the scope so a streaming relay can
    notice a client disconnect once the request body has been read.
    """

    def __init__(self, settings: Settings, *, serving: bool = False) -> None:
        self.settings = settings
        self.serving = serving
        if serving:  # a process of its own: its log is ours to set up
            logsetup.configure(settings.log_level, settings.log_format)
        self.db: Database = connect(settings)
        self.runtime: Runtime | None = None
        self.relay: Relay | None = None
        self.liveness: Liveness | None = None
        self.guard = AccessGuard()
        cors = (Cors(settings.cors_origins),) if settings.enable_cors else ()
        self.app = falcon.asgi.App(
            middleware=(  # CORS first: a preflight is answered before any key check
                *cors,
                _Lifespan(self),
                _Blocked(self),
                AdminAuth(lambda: self.runtime, self.guard),
            )
        )
        self.app.add_error_handler(Exception, _unexpected)
        self.app.add_error_handler(ProxyError, _proxy_error)
        self.app.add_error_handler(falcon.HTTPError, _http_error)
        self.app.add_error_handler(falcon.HTTPMethodNotAllowed, _method_not_allowed)
        self.app.add_error_handler(AdminError, render_admin_error)
        self.app.add_error_handler(StaleRevision, render_admin_error)
        self._routes_ready = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["ccbridge.receive"] = receive
        if scope["type"] == "websocket":  # a refused handshake is answered in HTTP
            send = wsresponses.denying_send(scope, send)
        await self.app(scope, receive, send)

    async def start(self) -> None:
        """Open storage, load config and start the background tasks.

        A serving process that cannot start says why in one line and exits
        1 at once: aiosqlite's threads would otherwise keep it alive, and
        no restart policy would ever fire.
        """
        try:
            await self._start()
        except Exception as ex:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self.db.close()  # ends the database threads
            if not self.serving:
                raise
            reason = (str(ex).strip().splitlines() or [type(ex).__name__])[0]
            print(f"ccbridge: cannot start: {reason}", file=sys.stderr, flush=True)
            os._exit(1)

    def begin_shutdown(self) -> None:
        """End live log streams: they would hold the shutdown forever."""
        if self.runtime is not None:
            self.runtime.writer.events.close_all()

    async def _start(self) -> None:
        settings = self.settings
        await open_with_retries(
            self.db, settings.db_startup_retries, settings.db_startup_retry_delay
        )
        applied = await migrate(self.db)
        if applied:
            log.info("applied %d migration(s)", len(applied))
        if settings.storage_backend == "database":
            report = await import_on_start(self.db, settings.data_dir, skip=settings.skip_migration)
            for line in report.lines():
                log.info("legacy import: %s", line)
        await seed_defaults(self.db)
        if masked := await mask_stored_headers(self.db):
            log.info("masked the secrets of %d stored debug row(s)", masked)
        rt = Runtime(self.settings, self.db, await load_snapshot(self.db))
        self.runtime = rt
        self._add_routes(rt)
        await rt.writer.start()
        self.liveness = Liveness(self.db, rt.writer.instance_id)
        await self.liveness.start()
        await rt.upstream.open()
        await rt.reloader.start()
        if rt.json_mode is not None:
            await rt.json_mode.start()
        _announce(self.settings, rt.snapshot)
        if self.serving:  # a process of its own, not an app inside tests
            gctune.settle()

    async def stop(self) -> None:
        """Stop background tasks, drain the writer, close storage."""
        rt = self.runtime
        if self.relay is not None:  # its config writes reload: before the reloader stops
            await self.relay.learner.stop()
        if rt is not None:
            if rt.json_mode is not None:
                await rt.json_mode.stop()
            await rt.reloader.stop()
            await rt.upstream.close()
            await rt.writer.stop()
        if self.liveness is not None:
            await self.liveness.stop()
        await self.db.close()

    def _add_routes(self, rt: Runtime) -> None:
        if self._routes_ready:
            return
        relay = self.relay = Relay(
            settings=rt.settings,
            live=rt.live,
            scheduler=rt.scheduler,
            policy=rt.policy,
            suspensions=rt.suspensions,
            quota=rt.quota,
            budgets=rt.budgets,
            writer=rt.writer,
            upstream=rt.upstream,
            config=rt.config,
            codex_tokens=rt.codex_tokens,
        )
        app = self.app
        proxied = (rt.auth, relay, rt.writer, rt.settings)
        app.add_route("/v1/messages", resources.Messages(*proxied))
        app.add_route("/v1/messages/count_tokens", resources.CountTokens(*proxied))
        app.add_route(
            "/v1/responses", wsresponses.ResponsesSocket(*proxied, live=rt.live, guard=self.guard)
        )
        app.add_route("/v1/chat/completions", resources.ChatCompletions(*proxied))
        gemini = resources.Gemini(*proxied)
        for prefix in ("/v1/models", "/v1/gemini/models", "/v1beta/models"):
            app.add_route(prefix + "/{action}", gemini)
        app.add_route("/v1/models", resources.Models(rt.auth, rt.live))
        app.add_route(
            self.settings.health_check_path,
            resources.Health(rt.db, rt.live, rt.writer, rt.settings),
        )
        if self.settings.metrics_enabled:
            app.add_route("/metrics", observe.MetricsResource(self.settings.metrics_token))
        app.add_sink(resources.NotFound(), r"/v1(/.*)?$")
        admin.register(app, rt)
        if self.settings.enable_web_ui:
            ui.register(app)
        self._routes_ready = True


class _Lifespan:
    """Falcon lifespan middleware owning the gateway's resources."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def process_startup(self, scope: Mapping[str, Any], event: Any) -> None:
        """Start the gateway."""
        await self.gateway.start()

    async def process_shutdown(self, scope: Mapping[str, Any], event: Any) -> None:
        """Stop the gateway."""
        await self.gateway.stop()


class _Blocked:
    """Falcon middleware: the auth-failure guard on every path.

    A blocked address is refused (/v1 in the endpoint's own error format,
    anything else as a JSON problem) unless the request presents a valid
    key; a /v1 request refused for its key counts as a failure (/api counts
    in AdminAuth).
    """

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Answer 429 at once for a blocked client address without a valid key."""
        seconds = self.gateway.guard.blocked_for(req.remote_addr or "")
        rt = self.gateway.runtime
        if not seconds or (rt is not None and rt.auth.identify(req.headers, req.params)):
            return
        headers = {"Retry-After": str(seconds)}
        if is_v1_path(req.path):
            raise ProxyError(429, BLOCKED_MESSAGE, "AUTH_BLOCKED", headers)
        raise AdminError(429, BLOCKED_MESSAGE, "AUTH_BLOCKED", headers=headers)

    async def process_response(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        resource: object,
        req_succeeded: bool,
    ) -> None:
        """Count a /v1 request refused for its key."""
        if resp.status in _UNAUTHORIZED and is_v1_path(req.path):
            self.gateway.guard.record_failure(req.remote_addr or "")


# Paths whose clients speak an OpenAI or a Google API; the rest are Anthropic's.
_OPENAI_SHAPED = ("/v1/responses", "/v1/chat/completions")
_GEMINI_SHAPED = ("/v1/gemini/", "/v1beta/", "/v1/models/")


async def _proxy_error(
    req: falcon.asgi.Request, resp: falcon.asgi.Response, ex: ProxyError, params: Any
) -> None:
    path = req.path
    if path.startswith(_GEMINI_SHAPED):
        render = gemini_body
    elif path.startswith(_OPENAI_SHAPED):
        render = openai_body
    else:
        render = anthropic_body
    resp.status = ex.status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = render(ex.status, ex.message, ex.code)
    for name, value in ex.headers.items():
        resp.set_header(name, value)


async def _method_not_allowed(
    req: falcon.asgi.Request,
    resp: falcon.asgi.Response,
    ex: falcon.HTTPMethodNotAllowed,
    params: Any,
) -> None:
    # A /v1 route answers a method it lacks like an unknown /v1 path (§3.1).
    if is_v1_path(req.path):
        await _proxy_error(req, resp, resources.not_found(req), params)
        return
    if not render_http_error(req, resp, ex):
        raise ex


async def _http_error(
    req: falcon.asgi.Request, resp: falcon.asgi.Response, ex: falcon.HTTPError, params: Any
) -> None:
    if not render_http_error(req, resp, ex):
        raise ex


async def _unexpected(
    req: falcon.asgi.Request, resp: falcon.asgi.Response, ex: Exception, params: Any
) -> None:
    if isinstance(ex, falcon.HTTPError):
        if render_http_error(req, resp, ex):
            return
        raise ex
    log.exception("unhandled error on %s %s", req.method, req.path)
    await _proxy_error(req, resp, ProxyError(500, "internal error in ccbridge", "INTERNAL"), params)


def _announce(settings: Settings, snapshot: Snapshot) -> None:
    pools = {pool: len(channels) for pool, channels in snapshot.channels.items() if channels}
    if not pools:
        print(
            "ccbridge: no channels configured yet. Add one through the admin API "
            "(POST /api/channels) or import an existing config.json with "
            "`ccbridge import --from <dir>`.",
            file=sys.stderr,
        )
    if not settings.proxy_access_key and not snapshot.keys_by_hash:
        print(
            "ccbridge: no PROXY_ACCESS_KEY and no client keys: every request will be refused.",
            file=sys.stderr,
        )


def create_app(settings: Settings, *, serving: bool = False) -> Gateway:
    """Return the ASGI application for settings.

    ``serving``: the app owns its process (``ccbridge serve``), so its
    startup may tune process-wide settings such as the garbage collector.
    """
    return Gateway(settings, serving=serving)


def factory() -> Gateway:
    """Return the app from the environment (uvicorn --factory, workers)."""
    return create_app(Settings.from_env(environ_with_dotenv(environ=os.environ)), serving=True)
