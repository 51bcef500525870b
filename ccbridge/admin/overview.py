"""GET /api/dashboard/channels: every channel's health and quota in one call.

The web UI's dashboard refreshes every few seconds; reading the same facts
pool by pool (list, metrics, usage: twelve calls) would spend the /api
rate limit of the address on its own. This answers them together: config
and quota usage from one read-only transaction, breaker and suspension
state from the running scheduler, in each pool's index order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import falcon.asgi

from ccbridge.admin import spec
from ccbridge.admin.channel_info import usage_status
from ccbridge.admin.channel_views import DashboardChannel, DashboardChannels
from ccbridge.admin.channels import pool_rows
from ccbridge.admin.common import read_config, reply
from ccbridge.admin.model import ref
from ccbridge.runtime import Runtime
from ccbridge.store.shapes import to_json
from ccbridge.store.snapshot import POOLS
from generated.dao import Daos

__all__ = ("OPENAPI_PATHS", "OVERVIEW_PATH", "ChannelOverviewResource", "register")

OVERVIEW_PATH: Final = "/api/dashboard/channels"


class ChannelOverviewResource:
    """Health and quota of the channels of all four pools."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Return one entry per channel, pool by pool."""
        rt, now = self.rt, datetime.now(UTC)

        async def read(tx: Daos) -> list[DashboardChannel]:
            usage = {u.channel_uid: u for u in await tx.channel_usage.list()}
            breaker = rt.scheduler.breaker
            out = []
            for pool in POOLS:
                for index, row in enumerate(await pool_rows(tx, pool)):
                    uid = row.channel_id
                    until = rt.suspensions.until.get(uid)
                    out.append(
                        DashboardChannel(
                            pool=pool,
                            index=index,
                            id=uid,
                            name=row.name,
                            serviceType=row.service_type,
                            status=row.status or "active",
                            priority=row.priority or 0,
                            broken=breaker.is_broken(uid),
                            failureRate=round(breaker.failure_rate(uid), 4),
                            suspendedUntil=until if until and until > now else None,
                            quota=usage_status(row, index, usage.get(uid), now),
                        )
                    )
            return out

        channels, revision = await read_config(rt, read)
        reply(resp, to_json(DashboardChannels(channels=channels)), revision)


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], rt: Runtime) -> None:
    """Add GET /api/dashboard/channels."""
    app.add_route(OVERVIEW_PATH, ChannelOverviewResource(rt))


def _openapi() -> dict[str, Any]:
    return {
        OVERVIEW_PATH: {
            "get": spec.operation(
                "Health and quota of every channel (all pools)",
                "channels",
                etag=True,
                ok_schema=ref(DashboardChannels),
            )
        }
    }


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
