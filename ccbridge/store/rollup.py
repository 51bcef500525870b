"""Request-log rollups: finished rows summed per hour and per UTC day.

The invariant: for every bucket (an hour, or a UTC day) the rows of
``request_log_rollups`` (per endpoint, channel, provider label, model, api
key and client), ``request_log_session_rollups`` (per endpoint, client and
session) and ``request_log_latency`` (a histogram per endpoint and client)
hold the sums over exactly the request_logs rows whose status is final
(completed or error) and whose initial_time falls in the bucket. Sessions
and latency bins have tables of their own so that they neither multiply
the rows of the first one nor widen it (reads stay fast).

The writer keeps the invariant in the transaction that writes the log
rows: it reads the stored state of the rows it is about to overwrite
(``prior``) and adds ``contribution(new) - contribution(old)`` (`deltas`).
A row that is not final contributes nothing, so a row is counted when it
first becomes final, is never counted twice however often it is flushed
again (the two contributions cancel), and a later correction moves its
numbers instead of adding them. Rows written any other way (the legacy
import, a database from before the rollups) are counted by a rebuild
(`ccbridge.store.rollupdb`).

Latency is kept as a histogram (bins with edges `LATENCY_EDGES_MS`, each
about √2 times the previous), so a percentile read from rollups is
approximate (see `percentile`).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple, Protocol

__all__ = (
    "BINS",
    "DAY",
    "EPOCH",
    "FAR_FUTURE",
    "FINAL",
    "HOUR",
    "LATENCY_EDGES_MS",
    "Deltas",
    "LatencyKey",
    "RollupKey",
    "RollupSource",
    "SessionKey",
    "Sums",
    "Tally",
    "ceil_time",
    "deltas",
    "floor_time",
    "latency_bin",
    "percentile",
)

FINAL: Final = frozenset(("completed", "error"))
HOUR: Final = 3600
DAY: Final = 86400
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
FAR_FUTURE: Final = datetime(9999, 1, 1, tzinfo=UTC)
# Upper edges (exclusive) of the latency bins, in ms. Changing them needs a rebuild.
LATENCY_EDGES_MS: Final = (
    50, 70, 100, 140, 200, 280, 400, 560, 800, 1100,
    1600, 2200, 3200, 4500, 6400, 9000, 12800, 18000, 25600, 36000,
    51200, 72000, 102400, 144000, 204800, 288000, 409600, 576000, 819200, 1152000,
)  # fmt: skip
BINS: Final = len(LATENCY_EDGES_MS) + 1
_NO_LATENCY: Final = (0,) * BINS


class RollupSource(Protocol):
    """What a request_logs row (or a narrow read of one) must offer (read-only).

    Read-only members, so that a row whose columns are narrower (a NOT NULL
    ``initial_time``) still conforms.
    """

    @property
    def initial_time(self) -> datetime | None: ...
    @property
    def status(self) -> str | None: ...
    @property
    def endpoint(self) -> str | None: ...
    @property
    def channel_uid(self) -> str | None: ...
    @property
    def provider(self) -> str | None: ...
    @property
    def provider_name(self) -> str | None: ...
    @property
    def model(self) -> str | None: ...
    @property
    def api_key_id(self) -> int | None: ...
    @property
    def client_id(self) -> str | None: ...
    @property
    def session_id(self) -> str | None: ...
    @property
    def input_tokens(self) -> int | None: ...
    @property
    def output_tokens(self) -> int | None: ...
    @property
    def cache_creation_input_tokens(self) -> int | None: ...
    @property
    def cache_read_input_tokens(self) -> int | None: ...
    @property
    def total_tokens(self) -> int | None: ...
    @property
    def price(self) -> float | None: ...
    @property
    def duration_ms(self) -> int | None: ...


class RollupKey(NamedTuple):
    """What request_log_rollups counts a finished row under (besides its bucket)."""

    endpoint: str
    channel_uid: str
    provider: str  # COALESCE(provider_name, provider): the byProvider label
    model: str
    api_key_id: int  # -1 when unset; 0 is the master key
    client_id: str


class LatencyKey(NamedTuple):
    """What request_log_latency counts a timed finished row under (and its bin)."""

    endpoint: str
    client_id: str


class SessionKey(NamedTuple):
    """What request_log_session_rollups counts a finished row under."""

    endpoint: str
    client_id: str
    session_id: str


class Sums:
    """Summed numbers of some finished log rows (mutable).

    Args:
        histogram: Whether `add_row` keeps the latency histogram (groups
            that report only a mean, and rollup rows, do without).
    """

    __slots__ = (
        "cache_creation",
        "cache_read",
        "cost",
        "duration_ms",
        "failure",
        "first_at",
        "histogram",
        "input_tokens",
        "last_at",
        "latency",
        "output_tokens",
        "requests",
        "success",
        "timed",
        "total_tokens",
    )

    def __init__(self, histogram: bool = True) -> None:
        self.histogram = histogram
        self.requests = self.success = self.failure = 0
        self.input_tokens = self.output_tokens = 0
        self.cache_creation = self.cache_read = self.total_tokens = 0
        self.cost = 0.0
        self.duration_ms = self.timed = 0
        self.first_at: datetime | None = None
        self.last_at: datetime | None = None
        # PERF(stats): only histogram sums own a list; the others share zeros.
        self.latency: list[int] | tuple[int, ...] = [0] * BINS if histogram else _NO_LATENCY

    def add_row(self, row: RollupSource, sign: int = 1) -> None:
        """Add (or with sign -1, take away) one finished row."""
        self.requests += sign
        if row.status == "completed":
            self.success += sign
        else:
            self.failure += sign
        self.input_tokens += sign * (row.input_tokens or 0)
        self.output_tokens += sign * (row.output_tokens or 0)
        self.cache_creation += sign * (row.cache_creation_input_tokens or 0)
        self.cache_read += sign * (row.cache_read_input_tokens or 0)
        self.total_tokens += sign * (row.total_tokens or 0)
        self.cost += sign * (row.price or 0.0)
        duration = row.duration_ms or 0
        if duration > 0:
            self.timed += sign
            self.duration_ms += sign * duration
            if self.histogram:
                self.add_to_bin(latency_bin(duration), sign)
        if sign > 0 and row.initial_time is not None:
            self._see(row.initial_time, row.initial_time)

    def merge(self, other: Any, *, with_latency: bool = True) -> None:
        """Add another Sums, or a rollup row or query result with such fields.

        A result without first/last times adds only what it has;
        ``with_latency=False`` skips the histogram of another Sums (cheaper,
        for groups that report only an average).
        """
        self.requests += other.requests or 0
        self.success += other.success or 0
        self.failure += other.failure or 0
        self.input_tokens += other.input_tokens or 0
        self.output_tokens += other.output_tokens or 0
        self.total_tokens += getattr(other, "total_tokens", 0) or 0
        self.cost += other.cost or 0.0
        self.duration_ms += other.duration_ms or 0
        self.timed += other.timed or 0
        if isinstance(other, Sums):
            self.cache_creation += other.cache_creation
            self.cache_read += other.cache_read
            if with_latency:
                self.add_latency(other.latency)
        else:
            self.cache_creation += other.cache_creation_input_tokens or 0
            self.cache_read += other.cache_read_input_tokens or 0
        first, last = getattr(other, "first_at", None), getattr(other, "last_at", None)
        if first is not None and last is not None:
            self._see(first, last)

    def add_to_bin(self, bin_: int, count: int) -> None:
        """Add count requests to one latency bin."""
        if not isinstance(self.latency, list):  # the shared zeros: own a list first
            self.latency = list(self.latency)
        self.latency[bin_] += count

    def add_latency(self, latency: Iterable[int]) -> None:
        """Add a latency histogram to this one."""
        self.latency = [a + b for a, b in zip(self.latency, latency, strict=True)]

    def _see(self, first: datetime, last: datetime) -> None:
        if self.first_at is None or first < self.first_at:
            self.first_at = first
        if self.last_at is None or last > self.last_at:
            self.last_at = last

    @property
    def is_zero(self) -> bool:
        """Return True when adding these sums changes nothing but times."""
        numbers = (
            self.requests,
            self.success,
            self.failure,
            self.input_tokens,
            self.output_tokens,
            self.cache_creation,
            self.cache_read,
            self.total_tokens,
            self.duration_ms,
            self.timed,
            *self.latency,
        )
        return not any(numbers) and not self.cost

    @property
    def avg_latency_ms(self) -> float:
        """Return the mean duration of the timed rows (0 without any)."""
        return self.duration_ms / self.timed if self.timed else 0.0

    def columns(self) -> dict[str, Any]:
        """Return the summed columns shared by both rollup tables."""
        return {
            "requests": self.requests,
            "success": self.success,
            "failure": self.failure,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation,
            "cache_read_input_tokens": self.cache_read,
            "total_tokens": self.total_tokens,
            "cost": self.cost,
            "duration_ms": self.duration_ms,
            "timed": self.timed,
        }

    def rollup_columns(self) -> dict[str, Any]:
        """Return the request_log_rollups column values (first/last times too)."""
        return {**self.columns(), "first_at": self.first_at, "last_at": self.last_at}


def latency_bin(duration_ms: int) -> int:
    """Return the histogram bin of a duration."""
    return bisect.bisect_right(LATENCY_EDGES_MS, duration_ms)


def percentile(latency: Sequence[int], p: float) -> int:
    """Return the p-th percentile (0..100) of a latency histogram, in ms.

    The rank is the reference's (p/100 · (n-1), 0-based). Inside its bin
    the rows are taken as spread evenly (row j of c at (j + 0.5)/c of the
    bin's width), so the answer is off by at most one bin width. The open
    last bin answers its lower edge.
    """
    n = sum(latency)
    if n <= 0:
        return 0
    rank = p / 100 * (n - 1)
    seen = 0
    for index, count in enumerate(latency):
        if count > 0 and rank < seen + count:
            low = LATENCY_EDGES_MS[index - 1] if index else 0
            if index == len(LATENCY_EDGES_MS):
                return low
            high = LATENCY_EDGES_MS[index]
            return round(low + min((rank - seen + 0.5) / count, 1.0) * (high - low))
        seen += max(count, 0)
    return LATENCY_EDGES_MS[-1]


def floor_time(at: datetime, span: int) -> datetime:
    """Return the start of the UTC bucket of length span holding a time."""
    seconds = int((at - EPOCH).total_seconds() // span) * span
    return EPOCH + timedelta(seconds=seconds)


def ceil_time(at: datetime, span: int) -> datetime:
    """Return the first bucket start at or after a time."""
    start = floor_time(at, span)
    return start if start == at else start + timedelta(seconds=span)


Slot = tuple[int, datetime, RollupKey]  # (span, bucket start, key)
SessionSlot = tuple[int, datetime, SessionKey]
LatencySlot = tuple[int, datetime, LatencyKey, int]  # ..., bin
_HOURS: dict[int, datetime] = {}  # hour number since 1970 -> its start (a cache)


def _hour(at: datetime) -> datetime:
    number = int(at.timestamp() // HOUR)
    start = _HOURS.get(number)
    if start is None:
        start = _HOURS[number] = EPOCH + timedelta(seconds=number * HOUR)
    return start


@dataclass(slots=True)
class Deltas:
    """Changes to the three rollup tables, per rollup row (hours and days)."""

    groups: dict[Slot, Sums] = field(default_factory=dict)
    sessions: dict[SessionSlot, Sums] = field(default_factory=dict)
    latency: dict[LatencySlot, int] = field(default_factory=dict)


Fine = tuple[datetime, str, str, str, str, int, str, str]  # hour, RollupKey..., session_id


class Tally:
    """Finished rows counted in or out, on the way to their `Deltas`.

    PERF(store): `add` counts each row once, into a fine group (its hour,
    rollup key and session, with a latency histogram); `deltas` derives the
    hour rows of the three tables from the few fine groups, and the day rows
    from the hours (a day is the sum of its hours).
    """

    __slots__ = ("fine",)

    def __init__(self) -> None:
        self.fine: dict[Fine, Sums] = {}

    def add(self, row: RollupSource, sign: int = 1) -> None:
        """Count a row in (sign 1) or out (sign -1); rows not final count nothing."""
        if row.status not in FINAL or row.initial_time is None:
            return
        fine = (
            _hour(row.initial_time),
            row.endpoint or "",
            row.channel_uid or "",
            row.provider_name or row.provider or "",  # the byProvider label
            row.model or "",
            -1 if row.api_key_id is None else row.api_key_id,
            row.client_id or "",
            row.session_id or "",
        )
        sums = self.fine.get(fine)
        if sums is None:
            sums = self.fine[fine] = Sums()
        sums.add_row(row, sign)

    def deltas(self) -> Deltas:
        """Return the hour and day rows that change something."""
        groups: dict[Slot, Sums] = {}
        sessions: dict[SessionSlot, Sums] = {}
        hour_latency: dict[LatencySlot, int] = {}
        for fine, sums in self.fine.items():
            hour, session_id = fine[0], fine[7]
            rollup_key = RollupKey(*fine[1:7])
            _sums(groups, (HOUR, hour, rollup_key)).merge(sums, with_latency=False)
            endpoint, client_id = rollup_key.endpoint, rollup_key.client_id
            _sums(sessions, (HOUR, hour, SessionKey(endpoint, client_id, session_id))).merge(
                sums, with_latency=False
            )
            for bin_, count in enumerate(sums.latency):
                if count:
                    slot = (HOUR, hour, LatencyKey(endpoint, client_id), bin_)
                    hour_latency[slot] = hour_latency.get(slot, 0) + count
        latency = dict(hour_latency)
        for (_, hour, key, bin_), count in hour_latency.items():
            slot = (DAY, floor_time(hour, DAY), key, bin_)
            latency[slot] = latency.get(slot, 0) + count
        return Deltas(
            {k: v for k, v in _with_days(groups).items() if not v.is_zero},
            {k: v for k, v in _with_days(sessions).items() if not v.is_zero},
            {k: v for k, v in latency.items() if v},
        )


def _with_days(hours: dict[Any, Sums]) -> dict[Any, Sums]:
    out = dict(hours)
    for (_, hour, key), sums in hours.items():
        _sums(out, (DAY, floor_time(hour, DAY), key)).merge(sums, with_latency=False)
    return out


def _sums(table: dict[Any, Sums], slot: Any) -> Sums:
    sums = table.get(slot)
    if sums is None:
        sums = table[slot] = Sums(histogram=False)
    return sums


def deltas(prior: Iterable[RollupSource], rows: Iterable[RollupSource]) -> Deltas:
    """Return what writing rows over their prior stored state adds to the rollups."""
    tally = Tally()
    for old in prior:
        tally.add(old, -1)
    for new in rows:
        tally.add(new, +1)
    return tally.deltas()
