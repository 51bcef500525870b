"""The pure parts of the logs API: window plans, percentiles, deltas, cursors, masking."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from ccbridge.access.credentials import SECRET_HEADERS
from ccbridge.admin.common import AdminError
from ccbridge.admin.logquery import decode_cursor, encode_cursor, go_duration
from ccbridge.admin.logview import SENSITIVE_HEADERS, mask_headers, mask_value
from ccbridge.admin.statsread import plan
from ccbridge.store.rollup import (
    BINS,
    DAY,
    HOUR,
    LATENCY_EDGES_MS,
    Sums,
    ceil_time,
    deltas,
    floor_time,
    latency_bin,
    percentile,
)
from tests.admin.test_logs_support import BASE, log_row, with_status


def test_plan_covers_the_window_with_whole_buckets_and_raw_edges() -> None:
    rnd = random.Random(5)
    for _ in range(300):
        since = BASE + timedelta(seconds=rnd.uniform(-9e5, 9e5))
        until = since + timedelta(seconds=rnd.choice([0, 59, 3600, 7300, 86400 * 3 + 77, 9e6]))
        segments = plan(since, until, (DAY, HOUR))
        if since >= until:
            assert segments == []
            continue
        assert segments[0].start == since and segments[-1].end == until
        for a, b in zip(segments, segments[1:], strict=False):
            assert a.end == b.start
        for seg in segments:
            if seg.span is not None:
                assert floor_time(seg.start, seg.span) == seg.start
                assert floor_time(seg.end, seg.span) == seg.end
            else:
                # Only partial hours go raw: no whole clock hour fits in a raw piece.
                assert ceil_time(seg.start, HOUR) + timedelta(hours=1) > seg.end
    aligned = plan(
        BASE.replace(hour=0, minute=0),
        BASE.replace(hour=0, minute=0) + timedelta(days=2),
        (DAY, HOUR),
    )
    assert [s.span for s in aligned] == [DAY]


def test_percentile_from_the_histogram() -> None:
    assert percentile([0] * BINS, 95) == 0
    one = [0] * BINS
    one[latency_bin(1000)] = 1
    assert 800 <= percentile(one, 50) <= 1100  # the middle of its bin
    top = [0] * BINS
    top[-1] = 3
    assert percentile(top, 95) == LATENCY_EDGES_MS[-1]  # the open bin: its lower edge
    assert latency_bin(49) == 0 and latency_bin(50) == 1 and latency_bin(10**9) == BINS - 1


def test_add_to_bin_on_sums_without_a_histogram_leaves_the_shared_zeros() -> None:
    bare, other = Sums(histogram=False), Sums(histogram=False)
    bare.add_to_bin(3, 2)  # used to index the shared zero tuple: TypeError
    assert bare.latency[3] == 2 and sum(bare.latency) == 2
    assert sum(other.latency) == 0


def test_deltas_count_a_row_once_and_move_corrections() -> None:
    pending = log_row(1, BASE, status="pending", duration_ms=0)
    done = with_status(pending, "completed", duration_ms=900, price=0.5)
    assert deltas([], [pending]).groups == {}  # not final: nothing
    first = deltas([pending], [done])
    day, hour = floor_time(BASE, DAY), floor_time(BASE, HOUR)
    assert {(span, bucket) for span, bucket, _ in first.groups} == {(HOUR, hour), (DAY, day)}
    assert all(s.requests == 1 and s.cost == 0.5 for s in first.groups.values())
    assert sum(first.latency.values()) == 2  # one bin, in the hour and in the day
    again = deltas([done], [done])
    assert again.groups == {} and again.sessions == {} and again.latency == {}
    fixed = deltas([done], [with_status(done, "error", price=0.2)])
    (change,) = [s for (span, _, _), s in fixed.groups.items() if span == HOUR]
    assert (change.requests, change.success, change.failure) == (0, -1, 1)
    assert change.cost == pytest.approx(-0.3)
    moved = deltas([done], [with_status(done, "completed", model="other")])
    assert sorted(s.requests for s in moved.groups.values()) == [-1, -1, 1, 1]


def test_cursor_round_trip_and_refusal() -> None:
    at = datetime(2026, 3, 10, 14, 25, 0, 123456, tzinfo=UTC)
    assert decode_cursor(encode_cursor(at, "req_1:2")) == (at, "req_1:2")
    for token in ("", "bm9wZQ", "djE6eDp5", "!!!"):
        with pytest.raises(AdminError) as caught:
            decode_cursor(token)
        assert caught.value.status == 400


def test_go_durations() -> None:
    assert go_duration("30m") == timedelta(minutes=30)
    assert go_duration("1h30m") == timedelta(minutes=90)
    assert go_duration("1.5h") == timedelta(minutes=90)
    assert go_duration("250ms") == timedelta(milliseconds=250)
    for bad in (None, "", "30", "m", "-5m", "0s", "5 m", "1h-2m"):
        assert go_duration(bad) is None, bad


def test_masking_rules() -> None:
    assert mask_value("sk-ant-api03-abcdefghijklmnop") == "sk-ant-a...mnop"
    assert mask_value("123456789012") == "***"  # 12 characters: not longer than 12
    assert mask_value("1234567890123") == "12345678...0123"
    masked = mask_headers(
        {"Authorization": "Bearer sk-0123456789abcdef", "Cookie": "a=b", "X-Other": "keep me"}
    )
    assert masked == {
        "Authorization": "Bearer s...cdef",
        "Cookie": "***",
        "X-Other": "keep me",
    }


def test_masking_covers_every_credential_header() -> None:
    names = SECRET_HEADERS  # the upstream client drops and scrubs these too
    assert {"x-goog-api-key", "x-proxy-key", "set-cookie"} <= names
    assert names <= SENSITIVE_HEADERS
    masked = mask_headers({name.title(): "sk-0123456789abcdef" for name in names})
    assert masked == {name.title(): "sk-01234...cdef" for name in names}
