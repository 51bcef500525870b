"""Channel quota: what each channel has used, and whether it may serve.

Usage lives in channel_usage keyed by the stable channel id and is
incremented atomically in the database (`used = used + ?`), so several
instances never lose an increment. Each instance keeps a local view: the
database value at the last refresh plus its own increments since.

Resets (spec §3.8, improved): `fixed` resets at quota_reset_at + k·interval;
`rolling` resets once `interval` has passed since the last reset, with no
config write. Months count as 30 days. Unlike the reference, a channel whose
quota is spent is skipped by the scheduler until its reset.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from ccbridge.store.snapshot import Channel
from ccbridge.store.writer import UsageAdd, Writer
from generated.rows import ChannelUsageRow

__all__ = ("QuotaBook", "period_start")

_UNITS = {
    "hours": timedelta(hours=1),
    "days": timedelta(days=1),
    "weeks": timedelta(weeks=1),
    "months": timedelta(days=30),
}


def _interval(channel: Channel) -> timedelta | None:
    unit = _UNITS.get(channel.quota_reset_unit)
    if unit is None or channel.quota_reset_interval <= 0:
        return None
    return unit * channel.quota_reset_interval


def period_start(channel: Channel, last_reset: datetime | None, now: datetime) -> datetime | None:
    """Return the start of the channel's current quota period, if any.

    Usage recorded before it belongs to an earlier period and is reset.
    """
    interval = _interval(channel)
    if interval is None:
        return None
    if channel.quota_reset_mode == "rolling":
        if last_reset is None:
            return None
        return last_reset + interval if now >= last_reset + interval else None
    anchor = channel.quota_reset_at
    if anchor is None or now < anchor:
        return None
    periods = (now - anchor) // interval
    return anchor + periods * interval


class QuotaBook:
    """Per-channel usage seen by this instance, and quota checks."""

    def __init__(self, writer: Writer) -> None:
        self._writer = writer
        self._used: dict[str, float] = {}
        self._last_reset: dict[str, datetime | None] = {}

    def load(self, rows: Iterable[ChannelUsageRow], unwritten: Iterable[UsageAdd] = ()) -> None:
        """Replace the local view with the database's rows.

        Args:
            rows: channel_usage rows as read.
            unwritten: Increments still queued in the writer, so not in rows.
        """
        self._used = {r.channel_uid: r.used for r in rows}
        self._last_reset = {r.channel_uid: r.last_reset_at for r in rows}
        for add in unwritten:
            self._used[add.channel_uid] = self._used.get(add.channel_uid, 0.0) + add.amount
            self._last_reset.setdefault(add.channel_uid, add.at)

    def used(self, channel: Channel) -> float:
        """Return the usage of the channel's current period."""
        return self._used.get(channel.uid, 0.0)

    def exhausted(self, channel: Channel) -> bool:
        """Return True when the channel has spent its quota."""
        if not channel.quota_type or channel.quota_limit <= 0:
            return False
        if self.due_reset(channel, datetime.now(UTC)) is not None:
            return False
        return self._used.get(channel.uid, 0.0) >= channel.quota_limit

    def counts(self, channel: Channel, model: str) -> bool:
        """Return whether a request for model counts against the quota."""
        if not channel.quota_type:
            return False
        lowered = model.lower()
        return not channel.quota_models or any(
            m.lower() in lowered for m in channel.quota_models if m
        )

    def record(self, channel: Channel, model: str, price: float) -> None:
        """Count one finished request against the channel's quota."""
        if not self.counts(channel, model):
            return
        amount = 1.0 if channel.quota_type == "requests" else price
        if amount <= 0:
            return
        now = datetime.now(UTC)
        self._used[channel.uid] = self._used.get(channel.uid, 0.0) + amount
        self._last_reset.setdefault(channel.uid, now)
        self._writer.usage(UsageAdd(channel.uid, channel.index, channel.pool, amount, now))

    def due_reset(self, channel: Channel, now: datetime) -> datetime | None:
        """Return the period start when the channel's usage must reset."""
        start = period_start(channel, self._last_reset.get(channel.uid), now)
        last = self._last_reset.get(channel.uid)
        if start is None or (last is not None and last >= start):
            return None
        return start

    def reset_local(self, uid: str, now: datetime) -> None:
        """Forget local usage after a reset."""
        self._used[uid] = 0.0
        self._last_reset[uid] = now
