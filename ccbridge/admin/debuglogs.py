"""The reference's debug-log housekeeping routes.

``GET /api/logs/debug/stats`` counts the stored debug rows; ``DELETE /api/logs/debug`` deletes
them all; ``DELETE /api/logs/debug/headers`` drops every stored header
(bodies stay) and deletes the rows left holding nothing. The request log
rows themselves stay: only their captured traffic goes.
"""

from __future__ import annotations

from typing import Any, Final

import falcon.asgi

from ccbridge.admin import spec
from ccbridge.admin.common import reply
from ccbridge.runtime import Runtime

__all__ = ("OPENAPI_PATHS", "register")

DEBUG_PATH: Final = "/api/logs/debug"
STATS_PATH: Final = "/api/logs/debug/stats"
HEADERS_PATH: Final = "/api/logs/debug/headers"


class DebugLogsResource:
    """The debug rows as a whole: counted, purged, stripped of headers."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get_stats(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Return how many debug rows are stored."""
        reply(resp, {"count": await self.rt.db.daos.request_debug_logs.count()})

    async def on_delete(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Delete every debug row."""
        deleted = await self.rt.db.daos.request_debug_logs.clear()
        reply(resp, {"message": "Debug logs purged", "deleted": deleted})

    async def on_delete_headers(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Drop stored headers; delete rows that keep nothing else."""
        async with self.rt.db.transaction() as tx:
            cleared = await tx.request_debug_logs.clear_headers()
            deleted = await tx.request_debug_logs.delete_empty()
        body = {
            "message": "Debug log headers purged",
            "headersCleared": cleared,
            "deleted": deleted,
        }
        reply(resp, body)


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], rt: Runtime) -> None:
    """Add the debug-log routes."""
    resource = DebugLogsResource(rt)
    app.add_route(DEBUG_PATH, resource)
    app.add_route(STATS_PATH, resource, suffix="stats")
    app.add_route(HEADERS_PATH, resource, suffix="headers")


def _openapi() -> dict[str, Any]:
    counted = spec.obj({"count": spec.INT}, ["count"])
    purged = spec.obj({"message": spec.STR, "deleted": spec.INT}, ["message", "deleted"])
    stripped = spec.obj(
        {"message": spec.STR, "headersCleared": spec.INT, "deleted": spec.INT},
        ["message", "headersCleared", "deleted"],
    )
    errors = (401, 403, 429)
    return {
        STATS_PATH: {
            "get": spec.operation(
                "Count stored debug logs", "logs", ok_schema=counted, errors=errors
            )
        },
        DEBUG_PATH: {
            "delete": spec.operation(
                "Delete every debug log (the log rows stay)",
                "logs",
                ok_schema=purged,
                errors=errors,
            )
        },
        HEADERS_PATH: {
            "delete": spec.operation(
                "Drop stored debug headers; delete rows left empty",
                "logs",
                ok_schema=stripped,
                errors=errors,
            )
        },
    }


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
