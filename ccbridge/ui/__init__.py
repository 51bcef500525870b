"""The web UI: static ES modules served by the gateway, driving /api."""

from __future__ import annotations

import falcon.asgi

from ccbridge.ui.assets import load_assets
from ccbridge.ui.resources import AssetResource, PageResource

__all__ = ("register",)


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response]) -> None:
    """Add ``/`` and ``/ui/{build}/{path}`` (call only when the UI is on)."""
    assets = load_assets()
    app.add_route("/", PageResource(assets))
    app.add_route("/ui/{build}/{path:path}", AssetResource(assets))
