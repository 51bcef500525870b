"""create_app(settings) -> the ASGI application.

Startup (Falcon lifespan, so a failure is a failed startup, not a failed
first request): open the database, apply migrations, load the config
snapshot, start the writer, the upstream client and the reloader. Shutdown
runs in reverse and drains the writer.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import falcon
import falcon.asgi

from ccbridge import admin, gctune
from ccbridge.access.guard import BLOCKED_MESSAGE, AccessGuard
from ccbridge.admin.common import AdminAuth, AdminError, render_admin_error, render_http_error
from ccbridge.db.base import Database, connect
from ccbridge.db.migrate import migrate
from ccbridge.errors import StaleRevision
from ccbridge.legacy.importer import import_on_start
from ccbridge.proxy import resources
from ccbridge.proxy.errors import ProxyError, anthropic_body, openai_body
from ccbridge.proxy.relay import Relay
from ccbridge.runtime import Runtime
from ccbridge.settings import Settings, environ_with_dotenv
from ccbridge.store.defaults import seed_defaults
from ccbridge.store.loader import load_snapshot
from ccbridge.store.snapshot import Snapshot
from ccbridge.upstream.client import is_v1_path

__all__ = ("Gateway", "create_app", "factory")

log = logging.getLogger("ccbridge")

Scope = MutableMapping[str, Any]
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
        self.db: Database = connect(settings)
        self.runtime: Runtime | None = None
        self.relay: Relay | None = None
        self.guard = AccessGuard()
        self.app = falcon.asgi.App(
            middleware=[
                _Lifespan(self),
                _Blocked(self.guard),
                AdminAuth(lambda: self.runtime, self.guard),
            ]
        )
        self.app.add_error_handler(Exception, _unexpected)
        self.app.add_error_handler(ProxyError, _proxy_error)
        self.app.add_error_handler(falcon.HTTPError, _http_error)
        self.app.add_error_handler(falcon.HTTPMethodNotAllowed, _method_not_allowed)
        self.app.add_error_handler((AdminError, StaleRevision), render_admin_error)
        self._routes_ready = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["ccbridge.receive"] = receive
        await self.app(scope, receive, send)

    async def start(self) -> None:
        """Open storage, load config and start the background tasks."""
        await self.db.open()
        applied = await migrate(self.db)
        if applied:
            log.info("applied %d migration(s)", len(applied))
        settings = self.settings
        if settings.storage_backend == "database":
            report = await import_on_start(self.db, settings.data_dir, skip=settings.skip_migration)
            for line in report.lines():
                log.info("legacy import: %s", line)
        await seed_defaults(self.db)
        rt = Runtime(self.settings, self.db, await load_snapshot(self.db))
        self.runtime = rt
        self._add_routes(rt)
        await rt.writer.start()
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
            writer=rt.writer,
            upstream=rt.upstream,
            config=rt.config,
        )
        app = self.app
        proxied = (rt.auth, relay, rt.writer, rt.settings)
        app.add_route("/v1/messages", resources.Messages(*proxied))
        app.add_route("/v1/messages/count_tokens", resources.CountTokens(*proxied))
        app.add_route("/v1/responses", resources.Responses(*proxied))
        app.add_route("/v1/models", resources.Models(rt.auth, rt.live))
        app.add_route("/health", resources.Health(rt.db, rt.live, rt.writer, rt.settings))
        app.add_sink(resources.NotFound(), r"/v1(/.*)?$")
        admin.register(app, rt)
        self._routes_ready = True


class _Lifespan:
    """Falcon lifespan middleware owning the gateway's resources."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def process_startup(self, scope: Scope, event: Any) -> None:
        """Start the gateway."""
        await self.gateway.start()

    async def process_shutdown(self, scope: Scope, event: Any) -> None:
        """Stop the gateway."""
        await self.gateway.stop()


class _Blocked:
    """Falcon middleware: refuse a blocked client address on every path.

    /v1 answers in the endpoint's own error format, anything else with a
    JSON problem.
    """

    def __init__(self, guard: AccessGuard) -> None:
        self.guard = guard

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Answer 429 at once for a blocked client address."""
        seconds = self.guard.blocked_for(req.remote_addr or "")
        if not seconds:
            return
        headers = {"Retry-After": str(seconds)}
        if is_v1_path(req.path):
            raise ProxyError(429, BLOCKED_MESSAGE, "AUTH_BLOCKED", headers)
        raise AdminError(429, BLOCKED_MESSAGE, "AUTH_BLOCKED", headers=headers)


async def _proxy_error(
    req: falcon.asgi.Request, resp: falcon.asgi.Response, ex: ProxyError, params: Any
) -> None:
    render = openai_body if req.path.startswith("/v1/responses") else anthropic_body
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
