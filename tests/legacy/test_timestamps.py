"""Every legacy timestamp spelling parses to the same UTC instant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ccbridge.legacy.timestamps import parse_timestamp, parse_timestamps

INSTANT = datetime(2025, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2025-03-01T10:00:00.123456Z",
        "2025-03-01T10:00:00.123456789Z",  # RFC 3339 nano: truncated
        "2025-03-01T18:00:00.123456789+08:00",
        "2025-03-01 18:00:00.123456789 +0800 CST",  # Go time.String()
        "2025-03-01 18:00:00.123456789 +0800 CST m=+12.345678901",
        "2025-03-01 03:00:00.123456789 -0700 MST m=-0.5",
        "2025-03-01 18:00:00.123456789 +0800 +08",  # zone without a name
        "2025-03-01 18:00:00.123456+08:00",  # modernc's default
        "2025-03-01 03:00:00.123456-07",
        "2025-03-01 03:00:00.123456-0700",
        "2025-03-01 10:00:00.123456",  # no offset: UTC
        "2025-03-01 10:00:00.123456Z",
        " 2025-03-01T10:00:00.123456Z ",
        b"2025-03-01T10:00:00.123456Z",
    ],
)
def test_spellings(text: str | bytes) -> None:
    assert parse_timestamp(text) == INSTANT
    assert parse_timestamps([text, None]) == [INSTANT, None]


def test_whole_seconds_and_dates() -> None:
    assert parse_timestamp("2025-03-01 10:00:00") == datetime(2025, 3, 1, 10, tzinfo=UTC)
    assert parse_timestamp("2025-03-01 10:00:00 +0000 UTC") == datetime(2025, 3, 1, 10, tzinfo=UTC)
    assert parse_timestamp("2025-03-01") == datetime(2025, 3, 1, tzinfo=UTC)
    assert parse_timestamp(1_700_000_000) == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    "value", [None, "", "   ", "0001-01-01 00:00:00 +0000 UTC", "0001-01-01T00:00:00Z"]
)
def test_unset(value: str | None) -> None:
    assert parse_timestamp(value) is None


@pytest.mark.parametrize("value", ["yesterday", "2025-13-01 10:00:00", "api.example.com", True])
def test_not_a_timestamp(value: object) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(value)
    with pytest.raises(ValueError):
        parse_timestamps([value])
