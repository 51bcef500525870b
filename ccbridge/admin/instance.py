"""The reference's /admin routes: this instance's config, reloaded or summarised.

``POST /admin/config/reload`` loads the config from the database into this
instance now (in JSON mode from the files first), without waiting for the
revision poll, and answers with the revision it serves. ``GET
/admin/dev/info`` (``ENV=development`` only, as in the reference) is a
summary without secrets. Both need an admin key, like /api.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

import falcon.asgi
import msgspec

from ccbridge.admin import spec
from ccbridge.admin.common import AdminError, reply
from ccbridge.admin.model import ref
from ccbridge.runtime import Runtime
from ccbridge.settings import DatabaseType, RunEnv, StorageBackend
from ccbridge.store.shapes import to_json
from ccbridge.store.snapshot import Snapshot

__all__ = ("DEV_INFO_PATH", "OPENAPI_PATHS", "RELOAD_PATH", "register")

RELOAD_PATH: Final = "/admin/config/reload"
DEV_INFO_PATH: Final = "/admin/dev/info"


def _d(description: str) -> msgspec.Meta:
    return msgspec.Meta(description=description)


class ConfigSummary(msgspec.Struct):
    """The reference's config summary: channel counts and strategies, no keys."""

    upstreamCount: Annotated[int, _d("Channels of the messages pool.")]
    responsesUpstreamCount: Annotated[int, _d("Channels of the responses pool.")]
    geminiUpstreamCount: Annotated[int, _d("Channels of the gemini pool.")]
    chatUpstreamCount: Annotated[int, _d("Channels of the chat pool.")]
    loadBalance: Annotated[str, _d("Strategy of the messages pool.")]
    responsesLoadBalance: Annotated[str, _d("Strategy of the responses pool.")]


class Reloaded(msgspec.Struct):
    """POST /admin/config/reload."""

    status: Annotated[Literal["success"], _d("Always success (errors are problems).")]
    message: Annotated[str, _d("What was done, for a person.")]
    timestamp: Annotated[datetime, _d("When it was reloaded.")]
    revision: Annotated[int, _d("Config revision this instance now serves.")]
    config: Annotated[ConfigSummary, _d("The configuration now served.")]


class DevEnvironment(msgspec.Struct):
    """The settings /admin/dev/info shows (no key, no origin list, no URL)."""

    env: Annotated[RunEnv, _d("Run environment (ENV).")]
    port: Annotated[int, _d("Port the server listens on.")]
    enableWebUI: Annotated[bool, _d("Whether the web UI is served.")]
    enableCORS: Annotated[bool, _d("Whether CORS headers are answered.")]
    logLevel: Annotated[str, _d("Log level.")]
    storageBackend: Annotated[StorageBackend, _d("Where the configuration is stored.")]
    databaseType: Annotated[DatabaseType, _d("Database engine.")]
    workers: Annotated[int, _d("Worker processes.")]


class DevInfo(msgspec.Struct):
    """GET /admin/dev/info."""

    status: Annotated[Literal["development"], _d("Always development.")]
    timestamp: Annotated[datetime, _d("When it was answered.")]
    revision: Annotated[int, _d("Config revision this instance serves.")]
    config: Annotated[ConfigSummary, _d("The configuration served.")]
    environment: Annotated[DevEnvironment, _d("Settings of this instance.")]


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _summary(snap: Snapshot) -> ConfigSummary:
    return ConfigSummary(
        upstreamCount=len(snap.pool("messages")),
        responsesUpstreamCount=len(snap.pool("responses")),
        geminiUpstreamCount=len(snap.pool("gemini")),
        chatUpstreamCount=len(snap.pool("chat")),
        loadBalance=snap.load_balance["messages"],
        responsesLoadBalance=snap.load_balance["responses"],
    )


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
        body = Reloaded(
            status="success",
            message="Config reloaded",
            timestamp=_now(),
            revision=revision,
            config=_summary(rt.snapshot),
        )
        reply(resp, to_json(body), revision)


class DevInfoResource:
    """GET /admin/dev/info: the config summary and the non-secret settings."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Return the summary; keys, the master key and CORS origins stay out."""
        settings = self.rt.settings
        body = DevInfo(
            status="development",
            timestamp=_now(),
            revision=self.rt.snapshot.revision,
            config=_summary(self.rt.snapshot),
            environment=DevEnvironment(
                env=settings.env,
                port=settings.port,
                enableWebUI=settings.enable_web_ui,
                enableCORS=settings.enable_cors,
                logLevel=settings.log_level,
                storageBackend=settings.storage_backend,
                databaseType=settings.database_type,
                workers=settings.workers,
            ),
        )
        reply(resp, to_json(body))


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], rt: Runtime) -> None:
    """Add the reload route, and dev info in development."""
    app.add_route(RELOAD_PATH, ReloadResource(rt))
    if rt.settings.env == "development":
        app.add_route(DEV_INFO_PATH, DevInfoResource(rt))


def _openapi() -> dict[str, Any]:
    return {
        RELOAD_PATH: {
            "post": spec.operation(
                "Reload the config from the database on this instance now",
                "instance",
                ok_schema=ref(Reloaded),
                etag=True,
                errors=(401, 403, 422, 429),
            )
        },
        DEV_INFO_PATH: {
            "get": spec.operation(
                "Config summary and settings (ENV=development only)",
                "instance",
                ok_schema=ref(DevInfo),
                errors=(401, 403, 404, 429),
            )
        },
    }


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
