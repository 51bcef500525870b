"""GET /api/openapi.json: one OpenAPI 3.1 document of every /api route.

Each admin module exposes ``OPENAPI_PATHS`` (the paths fragment of its
routes); this module merges them once, at registration. The logs module
is included when it is present.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any, Final

import falcon.asgi

import ccbridge
from ccbridge.admin import model, spec
from ccbridge.admin.common import reply

__all__ = ("MODULES", "OPENAPI_PATH", "OpenApiResource", "build_document", "register")

OPENAPI_PATH: Final = "/api/openapi.json"
# Admin modules whose OPENAPI_PATHS make up the document (missing ones are skipped).
MODULES: Final = (
    "ccbridge.admin.channels",
    "ccbridge.admin.channel_info",
    "ccbridge.admin.oauth",
    "ccbridge.admin.keys",
    "ccbridge.admin.pricing",
    "ccbridge.admin.aliases",
    "ccbridge.admin.settings_api",
    "ccbridge.admin.backup",
    "ccbridge.admin.restore_preview",
    "ccbridge.admin.server_backups",
    "ccbridge.admin.history",
    "ccbridge.admin.overview",
    "ccbridge.admin.logs",
    "ccbridge.admin.debuglogs",
    "ccbridge.admin.channel_history",
    "ccbridge.admin.ping",
    "ccbridge.admin.health",
    "ccbridge.admin.instance",
)


def _fragments(modules: Iterable[str]) -> Iterable[Mapping[str, Any]]:
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as ex:
            if ex.name != name:  # a module that exists but fails to import is a bug
                raise
            continue
        yield getattr(module, "OPENAPI_PATHS", {})


def build_document(modules: Iterable[str] = MODULES) -> dict[str, Any]:
    """Return the OpenAPI document of the given admin modules.

    Raises:
        ValueError: Two modules describe the same method of the same path.
    """
    paths: dict[str, dict[str, Any]] = {}
    for fragment in _fragments(modules):
        for path, item in fragment.items():
            merged = paths.setdefault(path, {})
            clash = set(merged) & set(item)
            if clash:
                raise ValueError(f"{path}: {sorted(clash)} described twice")
            merged.update(item)
    paths[OPENAPI_PATH] = {
        "get": spec.operation(
            "This document", "meta", ok_schema=spec.ANY_OBJECT, errors=(401, 403, 429)
        )
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ccbridge admin API",
            "version": getattr(ccbridge, "__version__", "0"),
            "description": (
                "Configuration writes take the config revision in If-Match and answer "
                "with it as ETag; a stale If-Match is refused with 409 and nothing changes."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"apiKey": []}, {"bearer": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            **spec.COMPONENTS,
            "schemas": {**spec.COMPONENTS["schemas"], **model.components()},
        },
    }


class OpenApiResource:
    """Serve the document built at registration."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Return the OpenAPI document."""
        reply(resp, self.document)


def register(
    app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], document: Mapping[str, Any]
) -> None:
    """Add GET /api/openapi.json."""
    app.add_route(OPENAPI_PATH, OpenApiResource(document))
