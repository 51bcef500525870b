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
from typing import Annotated, Any, Final, Literal

import falcon.asgi
import msgspec

from ccbridge.admin import spec
from ccbridge.admin.common import reply
from ccbridge.admin.model import ref
from ccbridge.db.postgres import PostgresDatabase
from ccbridge.runtime import Runtime
from ccbridge.settings import DatabaseType
from ccbridge.store.shapes import to_json

__all__ = ("HEALTH_DETAILS_PATH", "OPENAPI_PATHS", "HealthDetailsResource", "register")

HEALTH_DETAILS_PATH: Final = "/api/health/details"
_PING_TIMEOUT = 2.0


def _d(description: str) -> msgspec.Meta:
    return msgspec.Meta(description=description)


class Instance(msgspec.Struct):
    """A ccbridge process the database has seen."""

    instanceId: Annotated[str, _d("Id the process writes its rows with.")]
    host: Annotated[str, _d("Host name it runs on.")]
    pid: Annotated[int, _d("Its process id.")]
    startedAt: Annotated[datetime | None, _d("When it started (RFC 3339).")]
    heartbeatAt: Annotated[
        datetime | None, _d("Its last heartbeat (RFC 3339); a stale one names a dead process.")
    ]
    self: Annotated[bool, _d("Whether it is the process that answered.")]


class PoolStats(msgspec.Struct):
    """The PostgreSQL connection pool of this process."""

    size: Annotated[int, _d("Open connections.")]
    inUse: Annotated[int, _d("Connections in use.")]
    available: Annotated[int, _d("Idle connections.")]
    waiting: Annotated[int, _d("Requests waiting for a connection.")]
    min: Annotated[int, _d("Smallest pool size (POOL_MIN).")]
    max: Annotated[int, _d("Largest pool size (POOL_MAX).")]


class DatabaseCheck(msgspec.Struct):
    """One round trip to the database."""

    type: Annotated[DatabaseType, _d("Engine.")]
    ok: Annotated[bool, _d("Whether it answered in time.")]
    latencyMs: Annotated[float, _d("Round-trip time, in milliseconds.")]
    error: Annotated[str | None, _d("Why it failed (exception name or timeout); null if ok.")]


class WriterStats(msgspec.Struct):
    """The request-log writer of this process."""

    queueDepth: Annotated[int, _d("Rows waiting to be written.")]
    flushes: Annotated[int, _d("Flushes since start.")]
    failedFlushes: Annotated[int, _d("Flushes that failed since start.")]


class ConfigState(msgspec.Struct):
    """The configuration this process serves."""

    revision: Annotated[int, _d("Config revision in force.")]
    reloads: Annotated[int, _d("Snapshot reloads since start.")]


class HealthDetails(msgspec.Struct):
    """GET /api/health/details."""

    status: Annotated[
        Literal["healthy", "degraded"], _d("degraded when the database did not answer.")
    ]
    database: Annotated[DatabaseCheck, _d("Database round trip.")]
    pool: Annotated[PoolStats | None, _d("Connection pool; null on SQLite.")]
    writer: Annotated[WriterStats, _d("Request-log writer.")]
    config: Annotated[ConfigState, _d("Config revision and reloads.")]
    instanceId: Annotated[str, _d("This process's instance id.")]
    instances: Annotated[
        list[Instance], _d("Processes seen by the database; empty when it did not answer.")
    ]


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
        instances: list[Instance] = []
        if error is None:
            for row in await rt.db.daos.instances.seen():
                instances.append(
                    Instance(
                        instanceId=row.instance_id or "",
                        host=row.host or "",
                        pid=row.pid or 0,
                        startedAt=row.started_at,
                        heartbeatAt=row.heartbeat_at,
                        self=row.instance_id == rt.writer.instance_id,
                    )
                )
        pool = None
        if isinstance(rt.db, PostgresDatabase):
            stats = rt.db.pool.get_stats()
            size, available = stats.get("pool_size", 0), stats.get("pool_available", 0)
            pool = PoolStats(
                size=size,
                inUse=size - available,
                available=available,
                waiting=stats.get("requests_waiting", 0),
                min=stats.get("pool_min", rt.settings.pool_min),
                max=stats.get("pool_max", rt.settings.pool_max),
            )
        body = HealthDetails(
            status="healthy" if error is None else "degraded",
            database=DatabaseCheck(
                type=rt.settings.database_type, ok=error is None, latencyMs=latency, error=error
            ),
            pool=pool,
            writer=WriterStats(
                queueDepth=rt.writer.pending,
                flushes=rt.writer.flushes,
                failedFlushes=rt.writer.failures,
            ),
            config=ConfigState(revision=rt.live.snapshot.revision, reloads=rt.reloader.reloads),
            instanceId=rt.writer.instance_id,
            instances=instances,
        )
        # 200 either way: "status" says it; /health is the probe
        reply(resp, to_json(body))


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], rt: Runtime) -> None:
    """Add GET /api/health/details."""
    app.add_route(HEALTH_DETAILS_PATH, HealthDetailsResource(rt))


def _openapi() -> dict[str, Any]:
    return {
        HEALTH_DETAILS_PATH: {
            "get": spec.operation(
                "Database latency and pool, writer queue, config revision, instances",
                "health",
                ok_schema=ref(HealthDetails),
                errors=(401, 403, 429),
            )
        }
    }


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
