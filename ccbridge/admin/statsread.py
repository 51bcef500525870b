"""Reading log stats: rollups for whole days and hours, raw rows at the edges.

A window ``[since, until)`` is cut into whole UTC days (daily rollups),
the whole hours beside them (hourly rollups) and the partial hours at its
two ends (raw rows, summed here with the writer's own `Sums.add_row`).
A scope of one session is read from its raw rows only, through the
session_id index (the rollups do not split by session, and a session's
rows are few). Callers run the reads in one read-only transaction, so the
pieces agree.
``rollups=False`` reads everything from raw rows: the recomputation the
tests compare the rollup path with.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, NamedTuple, TypedDict

from ccbridge.admin.logquery import Scope
from ccbridge.store.rollup import (
    BINS,
    DAY,
    EPOCH,
    FAR_FUTURE,
    HOUR,
    RollupSource,
    Sums,
    ceil_time,
    floor_time,
    latency_bin,
)
from generated.dao import Daos

__all__ = (
    "GroupKey",
    "Segment",
    "SessionGroup",
    "StatsGroups",
    "plan",
    "raw_rows",
    "read_groups",
    "read_series",
)

_BATCH: Final = 5000

GroupKey = tuple[str, str, int, str]  # provider label, model, api key id (-1 unset), client
SessionGroup = str  # session id ('' unset)
_SPANS: Final = (DAY, HOUR)


class Segment(NamedTuple):
    """A piece of a window read from one source: a rollup span, or raw rows (None)."""

    span: int | None
    start: datetime
    end: datetime


@dataclass(slots=True)
class StatsGroups:
    """Sums of a window per (provider, model, key, client) and per session.

    Both cover the same rows; ``latency`` is their histogram.
    """

    groups: dict[GroupKey, Sums] = field(default_factory=dict)
    sessions: dict[SessionGroup, Sums] = field(default_factory=dict)
    latency: list[int] = field(default_factory=lambda: [0] * BINS)

    def add_row(self, row: RollupSource) -> None:
        """Count one finished raw row."""
        group = (row.provider_name or row.provider or "", row.model or "")
        key_id = -1 if row.api_key_id is None else row.api_key_id
        _sums(self.groups, (*group, key_id, row.client_id or "")).add_row(row)
        _sums(self.sessions, row.session_id or "").add_row(row)
        if (row.duration_ms or 0) > 0:
            self.latency[latency_bin(row.duration_ms or 0)] += 1


def plan(since: datetime, until: datetime, spans: tuple[int, ...]) -> list[Segment]:
    """Cut [since, until) into the largest whole buckets of spans, raw elsewhere."""
    if since >= until:
        return []
    if not spans:
        return [Segment(None, since, until)]
    span, rest = spans[0], spans[1:]
    low, high = ceil_time(since, span), floor_time(until, span)
    if low >= high:
        return plan(since, until, rest)
    return [*plan(since, low, rest), Segment(span, low, high), *plan(high, until, rest)]


def _window(scope: Scope) -> tuple[datetime, datetime]:
    return scope.since or EPOCH, scope.until or FAR_FUTURE


async def raw_rows(
    daos: Daos, scope: Scope, start: datetime, end: datetime
) -> AsyncIterator[RollupSource]:
    """Yield the finished rows of a scope in [start, end).

    A session's rows come through the session_id index in one read; other
    scopes are read oldest first in keyset pages.
    """
    if scope.session_id is not None:
        for session_row in await daos.request_logs.session_rows(
            session_id=scope.session_id,
            since=start,
            until=end,
            endpoint=scope.endpoint,
            client_id=scope.client_id,
        ):
            yield session_row
        return
    after_time, after_id = start, ""
    while True:
        rows = await daos.request_logs.rollup_rows(
            after_time=after_time,
            after_id=after_id,
            until=end,
            endpoint=scope.endpoint,
            client_id=scope.client_id,
            max_rows=_BATCH,
        )
        for row in rows:
            yield row
        if len(rows) < _BATCH:
            return
        last = rows[-1]
        assert last.initial_time is not None and last.id is not None
        after_time, after_id = last.initial_time, last.id


def _sums(groups: dict[Any, Sums], key: Any, histogram: bool = False) -> Sums:
    sums = groups.get(key)
    if sums is None:
        sums = groups[key] = Sums(histogram)
    return sums


def _spans(scope: Scope, rollups: bool) -> tuple[int, ...]:
    # The rollups do not split by session: a session's rows are few and indexed.
    return _SPANS if rollups and scope.session_id is None else ()


async def read_groups(daos: Daos, scope: Scope, *, rollups: bool = True) -> StatsGroups:
    """Return the sums of a scope per group and per session."""
    out = StatsGroups()
    for seg in plan(*_window(scope), _spans(scope, rollups)):
        if seg.span is None:
            async for row in raw_rows(daos, scope, seg.start, seg.end):
                out.add_row(row)
            continue
        window = _rollup_window(scope, seg)
        for result in await daos.request_log_rollups.by_group(**window):
            key = (
                result.provider or "",
                result.model or "",
                -1 if result.api_key_id is None else result.api_key_id,
                result.client_id or "",
            )
            _sums(out.groups, key).merge(result)
        for session in await daos.request_log_session_rollups.by_session(**window):
            _sums(out.sessions, session.session_id or "").merge(session)
        for hit in await daos.request_log_latency.by_bin(**window):
            out.latency[hit.bin or 0] += hit.requests or 0
    return out


async def read_series(
    daos: Daos, scope: Scope, interval: int, *, rollups: bool = True
) -> dict[datetime, Sums]:
    """Return the sums of a scope per interval (seconds, UTC-aligned), in time order."""
    spans = tuple(s for s in _spans(scope, rollups) if s <= interval and interval % s == 0)
    out: dict[datetime, Sums] = {}
    for seg in plan(*_window(scope), spans):
        if seg.span is None:
            async for row in raw_rows(daos, scope, seg.start, seg.end):
                assert row.initial_time is not None
                _sums(out, floor_time(row.initial_time, interval), True).add_row(row)
            continue
        window = _rollup_window(scope, seg)
        for result in await daos.request_log_rollups.by_bucket(**window):
            assert result.bucket is not None
            _sums(out, floor_time(result.bucket, interval), True).merge(result)
        for hit in await daos.request_log_latency.by_bucket(**window):
            assert hit.bucket is not None
            sums = _sums(out, floor_time(hit.bucket, interval), True)
            sums.add_to_bin(hit.bin or 0, hit.requests or 0)
    return dict(sorted(out.items()))


class _RollupWindow(TypedDict):
    """The parameters of the rollup reads over one segment."""

    span: int
    since: datetime
    until: datetime
    endpoint: str | None
    client_id: str | None


def _rollup_window(scope: Scope, seg: Segment) -> _RollupWindow:
    assert seg.span is not None  # a rollup segment, not raw rows
    return {
        "span": seg.span,
        "since": seg.start,
        "until": seg.end,
        "endpoint": scope.endpoint,
        "client_id": scope.client_id,
    }
