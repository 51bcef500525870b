"""The SQLite timestamp codec: fixed-width UTC text, exact to the microsecond."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ccbridge.daoruntime import ts_parse as _ts_parse
from ccbridge.daoruntime import ts_text as _ts_text


def reference(v: datetime) -> str:
    """The codec's format spelled the slow, obvious way."""
    u = v.astimezone(UTC)
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T"
        f"{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}Z"
    )


def test_matches_the_reference_over_the_whole_range() -> None:
    rng = random.Random(7)
    low = datetime(1, 1, 1, tzinfo=UTC)
    span = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - low) // timedelta(
        microseconds=1
    )
    # More distinct seconds than the prefix cache holds: it is cleared and refilled.
    for _ in range(20_000):
        v = low + timedelta(microseconds=rng.randrange(span + 1))
        text = _ts_text(v)
        assert text == reference(v)
        assert len(text) == 27
        assert _ts_parse(text) == v


@pytest.mark.parametrize("micro", [0, 1, 500_000, 999_999])
def test_second_boundaries_and_cached_prefixes(micro: int) -> None:
    start = datetime(2026, 11, 28, 23, 59, 58, tzinfo=UTC)
    for step in range(4):  # crosses a second, a minute, an hour and a day
        v = start + timedelta(seconds=step, microseconds=micro)
        assert _ts_text(v) == reference(v)
        assert _ts_text(v) == reference(v)  # the second time from the cache


def test_other_offsets_are_written_in_utc() -> None:
    v = datetime(2026, 1, 1, 5, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=3)))
    assert _ts_text(v) == "2026-01-01T02:00:00.999999Z"
    assert _ts_text(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00.000000Z"


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        _ts_text(datetime(2026, 1, 1))  # noqa: DTZ001
    assert _ts_text(None) is None
