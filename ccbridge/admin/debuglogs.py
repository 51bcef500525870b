"""The reference's debug-log housekeeping routes.

``GET /api/logs/debug/stats`` counts the stored debug rows; ``DELETE /api/logs/debug`` deletes
them all; ``DELETE /api/logs/debug/headers`` drops every stored header
(bodies stay) and deletes the rows left holding nothing. The request log
rows themselves stay: only their captured traffic goes.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import falcon.asgi
import msgspec

from ccbridge.admin import spec
from ccbridge.admin.common import reply
from ccbridge.admin.model import ref
from ccbridge.runtime import Runtime
from ccbridge.store.shapes import to_json

__all__ = ("OPENAPI_PATHS", "register")


def _d(description: str) -> msgspec.Meta:
    return msgspec.Meta(description=description)


DEBUG_PATH: Final = "/api/logs/debug"
STATS_PATH: Final = "/api/logs/debug/stats"
HEADERS_PATH: Final = "/api/logs/debug/headers"


class DebugLogCount(msgspec.Struct):
    """GET /api/logs/debug/stats."""

    count: Annotated[int, _d("Debug rows stored.")]


class DebugLogsPurged(msgspec.Struct):
    """DELETE /api/logs/debug."""

    message: Annotated[str, _d("What was done, for a person.")]
    deleted: Annotated[int, _d("Debug rows deleted.")]


class DebugHeadersPurged(msgspec.Struct):
    """DELETE /api/logs/debug/headers."""

    message: Annotated[str, _d("What was done, for a person.")]
    headersCleared: Annotated[int, _d("Debug rows whose headers were removed.")]
    deleted: Annotated[int, _d("Debug rows deleted as nothing was left in them.")]


class DebugLogsResource:
    """The debug rows as a whole: counted, purged, stripped of headers."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get_stats(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Return how many debug rows are stored."""
        reply(resp, to_json(DebugLogCount(await self.rt.db.daos.request_debug_logs.count())))

    async def on_delete(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Delete every debug row."""
        deleted = await self.rt.db.daos.request_debug_logs.clear()
        reply(resp, to_json(DebugLogsPurged("Debug logs purged", deleted)))

    async def on_delete_headers(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Drop stored headers; delete rows that keep nothing else."""
        async with self.rt.db.transaction() as tx:
            cleared = await tx.request_debug_logs.clear_headers()
            deleted = await tx.request_debug_logs.delete_empty()
        reply(resp, to_json(DebugHeadersPurged("Debug log headers purged", cleared, deleted)))


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], rt: Runtime) -> None:
    """Add the debug-log routes."""
    resource = DebugLogsResource(rt)
    app.add_route(DEBUG_PATH, resource)
    app.add_route(STATS_PATH, resource, suffix="stats")
    app.add_route(HEADERS_PATH, resource, suffix="headers")


def _openapi() -> dict[str, Any]:
    errors = (401, 403, 429)
    return {
        STATS_PATH: {
            "get": spec.operation(
                "Count stored debug logs", "logs", ok_schema=ref(DebugLogCount), errors=errors
            )
        },
        DEBUG_PATH: {
            "delete": spec.operation(
                "Delete every debug log (the log rows stay)",
                "logs",
                ok_schema=ref(DebugLogsPurged),
                errors=errors,
            )
        },
        HEADERS_PATH: {
            "delete": spec.operation(
                "Drop stored debug headers; delete rows left empty",
                "logs",
                ok_schema=ref(DebugHeadersPurged),
                errors=errors,
            )
        },
    }


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
