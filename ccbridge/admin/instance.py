"""The reference's /admin routes: this instance's config, reloaded or summarised.

``POST /admin/config/reload`` loads the config from the database into this
instance now (in JSON mode from the files first), without waiting for the
revision poll, and answers with the revision it serves. ``GET
/admin/dev/info`` (``ENV=development`` only, as in the reference) is a
summary without secrets. Both need an admin key, like /api.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import falcon.asgi

from ccbridge.admin import spec
from ccbridge.admin.common import AdminError, reply
from ccbridge.runtime import Runtime
from ccbridge.store.snapshot import Snapshot

__all__ = ("DEV_INFO_PATH", "OPENAPI_PATHS", "RELOAD_PATH", "register")

RELOAD_PATH: Final = "/admin/config/reload"
DEV_INFO_PATH: Final = "/admin/dev/info"


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _summary(snap: Snapshot) -> dict[str, Any]:
    """Return the reference's config summary: counts and strategies, no keys."""
    return {
        "upstreamCount": len(snap.pool("messages")),
        "responsesUpstreamCount": len(snap.pool("responses")),
        "geminiUpstreamCount": len(snap.pool("gemini")),
        "chatUpstreamCount": len(snap.pool("chat")),
        "loadBalance": snap.load_balance["messages"],
        "responsesLoadBalance": snap.load_balance["responses"],
    }


class ReloadResource:
    """POST /admin/config/reload."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Reload the config on this instance and return the revision in force."""
        rt = self.rt
        if rt.json_mode is not None and not await rt.json_mode.load():
            raise AdminError(422, rt.json_mode.last_error, "CONFIG_INVALID")
        revision = await rt.reloader.reload()
        body = {
            "status": "success",
            "message": "Config reloaded",
            "timestamp": _now(),
            "revision": revision,
            "config": _summary(rt.snapshot),
        }
        reply(resp, body, revision)


class DevInfoResource:
    """GET /admin/dev/info: the config summary and the non-secret settings."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Return the summary; keys, the master key and CORS origins stay out."""
        settings = self.rt.settings
        body = {
            "status": "development",
            "timestamp": _now(),
            "revision": self.rt.snapshot.revision,
            "config": _summary(self.rt.snapshot),
            "environment": {
                "env": settings.env,
                "port": settings.port,
                "enableWebUI": settings.enable_web_ui,
                "enableCORS": settings.enable_cors,
                "logLevel": settings.log_level,
                "storageBackend": settings.storage_backend,
                "databaseType": settings.database_type,
                "workers": settings.workers,
            },
        }
        reply(resp, body)


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], rt: Runtime) -> None:
    """Add the reload route, and dev info in development."""
    app.add_route(RELOAD_PATH, ReloadResource(rt))
    if rt.settings.env == "development":
        app.add_route(DEV_INFO_PATH, DevInfoResource(rt))


def _openapi() -> dict[str, Any]:
    summary = spec.obj(
        {
            "upstreamCount": spec.INT,
            "responsesUpstreamCount": spec.INT,
            "geminiUpstreamCount": spec.INT,
            "chatUpstreamCount": spec.INT,
            "loadBalance": spec.STR,
            "responsesLoadBalance": spec.STR,
        },
        ["upstreamCount", "responsesUpstreamCount", "loadBalance", "responsesLoadBalance"],
    )
    reloaded = spec.obj(
        {
            "status": spec.STR,
            "message": spec.STR,
            "timestamp": spec.STR,
            "revision": spec.INT,
            "config": summary,
        },
        ["status", "message", "timestamp", "revision", "config"],
    )
    info = spec.obj(
        {
            "status": spec.STR,
            "timestamp": spec.STR,
            "revision": spec.INT,
            "config": summary,
            "environment": spec.ANY_OBJECT,
        },
        ["status", "timestamp", "revision", "config", "environment"],
    )
    return {
        RELOAD_PATH: {
            "post": spec.operation(
                "Reload the config from the database on this instance now",
                "instance",
                ok_schema=reloaded,
                etag=True,
                errors=(401, 403, 422, 429),
            )
        },
        DEV_INFO_PATH: {
            "get": spec.operation(
                "Config summary and settings (ENV=development only)",
                "instance",
                ok_schema=info,
                errors=(401, 403, 404, 429),
            )
        },
    }


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
