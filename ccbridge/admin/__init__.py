"""The /api admin API: each module registers its own routes here."""

from __future__ import annotations

import falcon.asgi

from ccbridge.runtime import Runtime

__all__ = ("register",)


def register(app: falcon.asgi.App, rt: Runtime) -> None:
    """Add every admin route to the app."""
    # NOTE(admin): one line per module, e.g. `channels.register(app, rt)`.
    del app, rt
