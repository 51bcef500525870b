"""Codex quota from answer headers and from the usage endpoint, as channel_quota rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ccbridge.store.codexquota import (
    has_codex_headers,
    mark_exceeded,
    quota_from_headers,
    quota_from_row,
    quota_from_usage,
    quota_row,
    quota_view,
)
from tests.fakes.codex import QUOTA_HEADERS, USAGE

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_headers_become_the_reference_snapshot_and_row() -> None:
    headers = [(k.title(), v) for k, v in QUOTA_HEADERS.items()] + [("Content-Type", "x")]
    assert has_codex_headers(headers) and not has_codex_headers([("Content-Type", "x")])
    quota = quota_from_headers(headers, NOW)
    assert quota is not None
    row = quota_row("uid-1", "chatgpt", 2, quota)
    assert (row.channel_stable_id, row.channel_id, row.plan_type) == ("uid-1", 2, "plus")
    assert (row.primary_used_percent, row.secondary_used_percent) == (12, 44)
    assert row.primary_reset_at == datetime.fromtimestamp(1893456000, UTC)
    assert row.secondary_reset_at == NOW + timedelta(seconds=604800)
    snap = row.codex_quota_snapshot
    assert snap["primary_used_percent"] == 12 and snap["primary_used_percent_exact"] == 12.5
    assert "secondary_used_percent_exact" not in snap  # 44 is whole
    assert snap["detailed_limits"] == [
        {
            "limit_id": "codex_bengalfox",
            "limit_name": "GPT-5.3-Codex-Spark",
            "primary_used_percent": 2,
            "primary_used_percent_exact": 1.5,
            "primary_window_minutes": 300,
            "secondary_used_percent": 0,
        }
    ]
    view = quota_view(quota_from_row(row))
    assert view["primary_used_percent"] == 12.5 and "primary_used_percent_exact" not in view
    assert view["detailed_limits"][0]["primary_used_percent"] == 1.5


def test_no_codex_headers_no_quota() -> None:
    assert quota_from_headers([("x-ratelimit-limit", "1")], NOW) is None


def test_usage_endpoint_windows_by_length() -> None:
    swapped = {
        **USAGE,
        "rate_limit": {
            "primary_window": USAGE["rate_limit"]["secondary_window"],
            "secondary_window": USAGE["rate_limit"]["primary_window"],
        },
    }
    quota = quota_from_usage(swapped, NOW)
    assert (quota.plan_type, quota.primary.used_percent, quota.primary.window_minutes) == (
        "pro",
        0.64,
        300,
    )
    assert (quota.secondary.used_percent, quota.secondary.window_minutes) == (48.25, 10080)
    assert (quota.credits_has_credits, quota.credits_balance) == (True, "12.50")


def test_a_429_marks_the_quota_exceeded_until_retry_after() -> None:
    quota = quota_from_headers([("x-codex-primary-used-percent", "100")], NOW)
    assert quota is not None
    row = mark_exceeded(quota_row("u", "c", 0, quota), "120")
    assert (row.is_exceeded, row.exceeded_at, row.recover_at) == (
        True,
        NOW,
        NOW + timedelta(seconds=120),
    )
    default = mark_exceeded(quota_row("u", "c", 0, quota), None)
    assert default.recover_at == NOW + timedelta(minutes=5)
