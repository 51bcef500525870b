"""Everything one process needs to serve requests, in one place.

The request path reads `snapshot` (swapped whole on reload, never mutated),
the scheduler's in-memory state, suspensions and quota; it writes only
through the background writer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from ccbridge.db.base import Database
from ccbridge.proxy.permissions import KeyRateLimiter
from ccbridge.proxy.rules import FailoverPolicy
from ccbridge.proxy.scheduler import ChannelScheduler
from ccbridge.proxy.upstream import StripRules, UpstreamClient
from ccbridge.settings import Settings
from ccbridge.store.quota import QuotaBook
from ccbridge.store.snapshot import Channel, Snapshot
from ccbridge.store.writer import Writer
from generated.rows import ChannelSuspensionsRow

__all__ = ("Runtime",)


class Runtime:
    """The process-wide state behind the proxy."""

    def __init__(self, settings: Settings, db: Database, snapshot: Snapshot) -> None:
        self.settings = settings
        self.db = db
        self.master_key = (settings.proxy_access_key or "").encode()
        self.writer = Writer(db)
        self.upstream = UpstreamClient()
        self.scheduler = ChannelScheduler()
        self.policy = FailoverPolicy(snapshot.failover)
        self.rate_limiter = KeyRateLimiter()
        self.quota = QuotaBook(self.writer)
        self.suspensions: dict[str, datetime] = {}
        self.snapshot = snapshot
        self.strip_rules = _strip_rules(snapshot)
        # Reload from the database now; the gateway wires in its reloader.
        self.reload: Callable[[], Awaitable[None]] = _nothing
        # Runs after every committed config write (JSON mode writes its files).
        self.after_config_write: Callable[[], Awaitable[None]] = _nothing

    def swap(self, snapshot: Snapshot) -> None:
        """Adopt a new config snapshot (one attribute store: atomic)."""
        self.policy.update(snapshot.failover)
        self.scheduler.retain(snapshot)
        self.strip_rules = _strip_rules(snapshot)
        self.snapshot = snapshot

    def suspend(self, channel: Channel, until: datetime, reason: str) -> None:
        """Take a channel out of rotation until a time, on every instance."""
        self.suspensions[channel.uid] = until
        row = ChannelSuspensionsRow(
            channel_uid=channel.uid,
            channel_type=channel.pool,
            suspended_at=datetime.now(UTC),
            suspended_until=until,
            channel_id=channel.index,
            reason=reason,
        )
        self.writer.suspend(row)

    def load_suspensions(self, rows: list[ChannelSuspensionsRow]) -> None:
        """Replace the local suspensions with the database's."""
        now = datetime.now(UTC)
        self.suspensions = {
            r.channel_uid: r.suspended_until for r in rows if r.suspended_until > now
        }


def _strip_rules(snapshot: Snapshot) -> StripRules:
    policy = snapshot.outbound_headers
    return StripRules.compile(policy.strip_rules if policy.enabled else ())


async def _nothing() -> None:
    return None
