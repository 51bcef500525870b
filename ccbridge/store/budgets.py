"""Client key budgets: what each key spent this period, and whether it may spend more.

Spend lives in key_spend, one row per key, kind (``usd`` in micro-dollars,
``tokens``) and UTC period start, and is incremented atomically in the
database by the writer (``amount = amount + ?``), so no instance loses
another's spend and the stored total is exact to the micro-dollar.

The request path never waits on the database: it checks this instance's
view, which is the database total as last seen plus this instance's own
increments not written yet. The view learns the database total from every
flush that charges a key (the increment returns the new total, which
includes what other instances added), on PostgreSQL from the totals every
other instance's flush sends by NOTIFY, and from the reloader's refresh
(every CONFIG_POLL_INTERVAL). A key is refused once its view reaches the
budget; the request that crosses it is served whole, since a cost is known
only when the answer ends.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from ccbridge.store.snapshot import ClientKey
from generated.rows import KeySpendSinceResult

__all__ = (
    "EPOCH",
    "MICRO",
    "SPEND_CHANNEL",
    "PERIODS",
    "TOKENS",
    "USD",
    "BudgetBook",
    "SpendAdd",
    "SpendKey",
    "micro_usd",
    "next_reset",
    "period_start",
    "spend_payloads",
)

PERIODS: Final = ("daily", "weekly", "monthly", "total")
USD: Final = "usd"
TOKENS: Final = "tokens"
MICRO: Final = 1_000_000  # micro-dollars per USD: integer sums stay exact
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)  # the one period of a `total` budget
_LOOKBACK: Final = timedelta(days=32)  # longer than any period but `total`

log = logging.getLogger("ccbridge.budgets")

SPEND_CHANNEL: Final = "key_spend_events"  # NOTIFY: totals a flush wrote (PostgreSQL)
_MAX_PAYLOAD: Final = 7000  # bytes; PostgreSQL refuses a NOTIFY payload of 8000 or more

SpendKey = tuple[int, str, datetime]


def period_start(period: str, now: datetime) -> datetime:
    """Return the start of the UTC period holding ``now``."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return day
    if period == "weekly":
        return day - timedelta(days=day.weekday())  # Monday
    if period == "monthly":
        return day.replace(day=1)
    return EPOCH


def next_reset(period: str, now: datetime) -> datetime | None:
    """Return when the period holding ``now`` ends (None for ``total``)."""
    start = period_start(period, now)
    if period == "daily":
        return start + timedelta(days=1)
    if period == "weekly":
        return start + timedelta(weeks=1)
    if period == "monthly":
        return (
            start.replace(year=start.year + 1, month=1)
            if start.month == 12
            else (start.replace(month=start.month + 1))
        )
    return None


@dataclass(frozen=True, slots=True)
class SpendAdd:
    """Add to a key's spend of one kind in one period."""

    key_id: int
    kind: str
    period_start: datetime
    amount: int
    at: datetime

    @property
    def slot(self) -> SpendKey:
        """Return the key_spend primary key this increment goes to."""
        return (self.key_id, self.kind, self.period_start)


def spend_payloads(totals: Mapping[SpendKey, int]) -> list[str]:
    """Return NOTIFY payloads carrying spend totals, each under the size limit."""
    payloads: list[str] = []
    items: list[list[object]] = []
    size = 2
    for (key_id, kind, start), total in totals.items():
        item = [key_id, kind, int(start.timestamp()), total]
        length = len(json.dumps(item)) + 1
        if items and size + length > _MAX_PAYLOAD:
            payloads.append(json.dumps(items))
            items, size = [], 2
        items.append(item)
        size += length
    if items:
        payloads.append(json.dumps(items))
    return payloads


def _utc_now() -> datetime:
    return datetime.now(UTC)


def micro_usd(cost: float) -> int:
    """Return a USD cost in whole micro-dollars."""
    return round(cost * MICRO)


class BudgetBook:
    """Per-key spend seen by this instance, and budget checks.

    Args:
        charge: Hands an increment to the writer (returns back-pressure or None).
        pending: The writer's unwritten amount of one slot.
    """

    def __init__(
        self,
        charge: Callable[[SpendAdd], Awaitable[None] | None],
        pending: Callable[[SpendKey], int],
    ) -> None:
        self._charge = charge
        self._pending = pending
        self._seen: dict[SpendKey, int] = {}
        self.clock: Callable[[], datetime] = _utc_now  # which period is current

    def load(self, rows: Iterable[KeySpendSinceResult], unwritten: Iterable[SpendAdd]) -> None:
        """Replace the view with the database's rows plus the writer's queue."""
        seen: dict[SpendKey, int] = {}
        for r in rows:
            if r.key_id is not None and r.kind and r.period_start is not None:
                seen[(r.key_id, r.kind, r.period_start)] = r.amount or 0
        for add in unwritten:
            seen[add.slot] = seen.get(add.slot, 0) + add.amount
        self._seen = seen

    def synced(self, totals: Mapping[SpendKey, int]) -> None:
        """Adopt the totals a flush read back, plus what queued since."""
        for slot, total in totals.items():
            self._seen[slot] = total + self._pending(slot)

    def receive_remote(self, payload: str) -> None:
        """Adopt the totals another instance wrote (a NOTIFY payload).

        Totals of a period only grow, so a newer one never lowers the view;
        this instance's own increments not written yet are added back.
        """
        try:
            items = json.loads(payload)
            for key_id, kind, start, total in items:
                slot = (int(key_id), str(kind), datetime.fromtimestamp(int(start), UTC))
                mine = self._pending(slot)
                self._seen[slot] = max(self._seen.get(slot, 0), int(total) + mine)
        except (ValueError, TypeError) as ex:  # not ours: the poll still refreshes
            log.warning("ignored a malformed key spend notification: %s", ex)

    @staticmethod
    def since(now: datetime) -> datetime:
        """Return the oldest period start a refresh must read."""
        return now - _LOOKBACK

    def spent(self, key: ClientKey, kind: str, now: datetime) -> int:
        """Return the key's spend of a kind in its current period."""
        period = key.budget_period if kind == USD else key.token_budget_period
        return self._seen.get((key.id, kind, period_start(period, now)), 0)

    def exhausted(self, key: ClientKey, now: datetime) -> str | None:
        """Return the kind of budget the key has spent (``usd``/``tokens``), or None."""
        if key.budget_usd is not None and self.spent(key, USD, now) >= micro_usd(key.budget_usd):
            return USD
        if key.token_budget is not None and self.spent(key, TOKENS, now) >= key.token_budget:
            return TOKENS
        return None

    def record(
        self, key: ClientKey, cost: float, tokens: int, now: datetime
    ) -> Awaitable[None] | None:
        """Charge one finished request to the key's budgets.

        Returns the writer's back-pressure awaitable, or None.
        """
        adds = []
        if key.budget_usd is not None:
            start = period_start(key.budget_period, now)
            adds.append(SpendAdd(key.id, USD, start, micro_usd(cost), now))
        if key.token_budget is not None:
            start = period_start(key.token_budget_period, now)
            adds.append(SpendAdd(key.id, TOKENS, start, tokens, now))
        waiting = None
        for add in adds:
            waiting = self._add(add) or waiting
        return waiting

    def _add(self, add: SpendAdd) -> Awaitable[None] | None:
        if add.amount <= 0:
            return None
        self._seen[add.slot] = self._seen.get(add.slot, 0) + add.amount
        return self._charge(add)
