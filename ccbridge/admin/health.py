"""GET /api/health/details: what an operator checks first, in one call.

The database's round-trip time, its connection pool (PostgreSQL), the
writer's queue, the config revision this process serves and how often it
reloaded, and the instances (processes) the database has seen with their
last heartbeat (`ccbridge.store.liveness`): several instances or workers
share one database on PostgreSQL, so a stale heartbeat names a dead one.
Unlike /health it needs an admin key: it names hosts and process ids.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any, Final

import falcon.asgi

from ccbridge.admin import spec
from ccbridge.admin.common import reply
from ccbridge.db.postgres import PostgresDatabase
from ccbridge.runtime import Runtime

__all__ = ("HEALTH_DETAILS_PATH", "OPENAPI_PATHS", "HealthDetailsResource", "register")

HEALTH_DETAILS_PATH: Final = "/api/health/details"
_PING_TIMEOUT = 2.0


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


class HealthDetailsResource:
    """Database, pool, writer, config revision and instances."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Report the details; a database failure is reported as "degraded", not raised."""
        rt = self.rt
        began = time.perf_counter()
        error = None
        try:
            async with asyncio.timeout(_PING_TIMEOUT):
                await rt.db.ping()
        except TimeoutError:
            error = f"no answer within {_PING_TIMEOUT:g}s"
        except Exception as ex:  # reported, as /health does
            error = type(ex).__name__
        latency = round((time.perf_counter() - began) * 1000, 2)
        instances: list[dict[str, Any]] = []
        if error is None:
            for row in await rt.db.daos.instances.seen():
                instances.append(
                    {
                        "instanceId": row.instance_id,
                        "host": row.host,
                        "pid": row.pid,
                        "startedAt": _iso(row.started_at),
                        "heartbeatAt": _iso(row.heartbeat_at),
                        "self": row.instance_id == rt.writer.instance_id,
                    }
                )
        pool = None
        if isinstance(rt.db, PostgresDatabase):
            stats = rt.db.pool.get_stats()
            size, available = stats.get("pool_size", 0), stats.get("pool_available", 0)
            pool = {
                "size": size,
                "inUse": size - available,
                "available": available,
                "waiting": stats.get("requests_waiting", 0),
                "min": stats.get("pool_min", rt.settings.pool_min),
                "max": stats.get("pool_max", rt.settings.pool_max),
            }
        body = {
            "status": "healthy" if error is None else "degraded",
            "database": {
                "type": rt.settings.database_type,
                "ok": error is None,
                "latencyMs": latency,
                "error": error,
            },
            "pool": pool,
            "writer": {
                "queueDepth": rt.writer.pending,
                "flushes": rt.writer.flushes,
                "failedFlushes": rt.writer.failures,
            },
            "config": {"revision": rt.live.snapshot.revision, "reloads": rt.reloader.reloads},
            "instanceId": rt.writer.instance_id,
            "instances": instances,
        }
        reply(resp, body)  # 200 either way: "status" says it; /health is the probe


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], rt: Runtime) -> None:
    """Add GET /api/health/details."""
    app.add_route(HEALTH_DETAILS_PATH, HealthDetailsResource(rt))


def _openapi() -> dict[str, Any]:
    instance = spec.obj(
        {
            "instanceId": spec.STR,
            "host": spec.STR,
            "pid": spec.INT,
            "startedAt": spec.DATETIME,
            "heartbeatAt": spec.DATETIME,
            "self": spec.BOOL,
        },
        ["instanceId", "host", "pid", "startedAt", "heartbeatAt", "self"],
    )
    pool = spec.obj(
        {k: spec.INT for k in ("size", "inUse", "available", "waiting", "min", "max")},
        ["size", "inUse", "available", "waiting"],
    )
    body = spec.obj(
        {
            "status": {"type": "string", "enum": ["healthy", "degraded"]},
            "database": spec.obj(
                {
                    "type": spec.STR,
                    "ok": spec.BOOL,
                    "latencyMs": spec.NUMBER,
                    "error": spec.nullable(spec.STR),
                },
                ["type", "ok", "latencyMs", "error"],
            ),
            "pool": spec.nullable(pool),
            "writer": spec.obj(
                {"queueDepth": spec.INT, "flushes": spec.INT, "failedFlushes": spec.INT},
                ["queueDepth", "flushes", "failedFlushes"],
            ),
            "config": spec.obj(
                {"revision": spec.INT, "reloads": spec.INT}, ["revision", "reloads"]
            ),
            "instanceId": spec.STR,
            "instances": spec.array(instance),
        },
        ["status", "database", "pool", "writer", "config", "instanceId", "instances"],
    )
    return {
        HEALTH_DETAILS_PATH: {
            "get": spec.operation(
                "Database latency and pool, writer queue, config revision, instances",
                "health",
                ok_schema=body,
                errors=(401, 403, 429),
            )
        }
    }


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
