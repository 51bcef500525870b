"""The /api admin API: each module registers its own routes here."""

from __future__ import annotations

import falcon.asgi

from ccbridge.admin import (
    aliases,
    backup,
    channel_history,
    channel_info,
    channels,
    debuglogs,
    health,
    history,
    instance,
    keys,
    logs,
    oauth,
    openapi,
    overview,
    ping,
    pricing,
    restore_preview,
    server_backups,
    settings_api,
)
from ccbridge.runtime import Runtime

__all__ = ("register",)


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], rt: Runtime) -> None:
    """Add every admin route to the app (one line per module)."""
    channels.register(app, rt)
    channel_info.register(app, rt)
    oauth.register(app, rt)
    keys.register(app, rt)
    pricing.register(app, rt)
    aliases.register(app, rt)
    settings_api.register(app, rt)
    backup.register(app, rt)
    restore_preview.register(app, rt)
    server_backups.register(app, rt)
    history.register(app, rt)
    overview.register(app, rt)
    debuglogs.register(app, rt)
    channel_history.register(app, rt)
    logs.register(app, rt)
    ping.register(app, rt)
    health.register(app, rt)
    instance.register(app, rt)
    # NOTE(admin): last, so the document describes every module listed in openapi.MODULES.
    openapi.register(app, openapi.build_document())
