"""Channels taken out of rotation until a time, on every instance.

The local view is what the request path reads; each suspension is also
written (through the writer) to channel_suspensions, which every instance
reloads, so one instance's suspension holds for all.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from ccbridge import metrics
from ccbridge.store.snapshot import Channel
from ccbridge.store.writer import Writer
from generated.rows import ChannelSuspensionsRow

__all__ = ("Suspensions",)


class Suspensions:
    """Channel uid -> suspended-until, mirrored from the database."""

    __slots__ = ("_writer", "until")

    def __init__(self, writer: Writer) -> None:
        self._writer = writer
        self.until: dict[str, datetime] = {}

    def suspend(self, channel: Channel, until: datetime, reason: str) -> None:
        """Take ``channel`` out of rotation until ``until``, everywhere."""
        self.until[channel.uid] = until
        row = ChannelSuspensionsRow(
            channel_uid=channel.uid,
            channel_type=channel.pool,
            suspended_at=datetime.now(UTC),
            suspended_until=until,
            channel_id=channel.index,
            reason=reason,
        )
        self._writer.suspend(row)
        metrics.suspended(channel.name)

    def lift(self, uid: str) -> None:
        """Forget a local suspension (its row was deleted by a config write)."""
        self.until.pop(uid, None)

    def load(self, rows: Iterable[ChannelSuspensionsRow]) -> None:
        """Replace the local view with the database's still-running rows."""
        now = datetime.now(UTC)
        self.until = {r.channel_uid: r.suspended_until for r in rows if r.suspended_until > now}
