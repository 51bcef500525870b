"""Budget periods and the in-memory spend view (ccbridge.store.budgets)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ccbridge.access.standing import check_budget, check_expiry
from ccbridge.store.budgets import (
    EPOCH,
    TOKENS,
    USD,
    BudgetBook,
    SpendAdd,
    SpendKey,
    next_reset,
    period_start,
    spend_payloads,
)
from ccbridge.store.snapshot import ClientKey
from generated.rows import KeySpendSinceResult


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("period", "now", "start", "reset"),
    [
        ("daily", "2026-12-31T23:59:59", "2026-12-31T00:00:00", "2027-01-01T00:00:00"),
        ("weekly", "2026-12-06T10:00:00", "2026-11-30T00:00:00", "2026-12-07T00:00:00"),  # Sunday
        ("weekly", "2026-11-30T00:00:00", "2026-11-30T00:00:00", "2026-12-07T00:00:00"),  # Monday
        ("monthly", "2026-12-15T08:00:00", "2026-12-01T00:00:00", "2027-01-01T00:00:00"),
        ("monthly", "2028-02-29T12:00:00", "2028-02-01T00:00:00", "2028-03-01T00:00:00"),
    ],
)
def test_periods_are_utc_calendar_periods(period: str, now: str, start: str, reset: str) -> None:
    assert period_start(period, _at(now)) == _at(start)
    assert next_reset(period, _at(now)) == _at(reset)


def test_a_time_in_another_zone_counts_in_utc() -> None:
    # 10:00 on the 7th in Tokyo is 01:00 UTC on the 7th; 23:00 UTC on the 6th is 08:00 there.
    tokyo = datetime(2026, 12, 7, 1, 0, tzinfo=UTC).astimezone(ZoneInfo("Asia/Tokyo"))
    assert period_start("daily", tokyo) == _at("2026-12-07T00:00:00")
    late = datetime(2026, 12, 6, 23, 0, tzinfo=UTC).astimezone(ZoneInfo("Asia/Tokyo"))
    assert late.day == 7 and period_start("daily", late) == _at("2026-12-06T00:00:00")


def test_total_has_one_period_and_no_reset() -> None:
    now = _at("2026-12-06T10:00:00")
    assert (period_start("total", now), next_reset("total", now)) == (EPOCH, None)


class _Writer:
    """The writer's side of the book: queued increments by slot."""

    def __init__(self) -> None:
        self.queued: dict[SpendKey, int] = {}

    def charge(self, add: SpendAdd) -> None:
        self.queued[add.slot] = self.queued.get(add.slot, 0) + add.amount

    def pending(self, slot: SpendKey) -> int:
        return self.queued.get(slot, 0)


NOW = _at("2026-12-06T10:00:00")
KEY = ClientKey(id=7, name="k", budget_usd=0.05, budget_period="daily", token_budget=1000)
DAY = period_start("daily", NOW)


def test_record_counts_micro_dollars_and_tokens_until_spent() -> None:
    writer = _Writer()
    book = BudgetBook(writer.charge, writer.pending)
    for _ in range(4):
        book.record(KEY, 0.01, 100, NOW)
    assert book.exhausted(KEY, NOW) is None
    book.record(KEY, 0.01, 100, NOW)  # floats of 0.01 add up to exactly 50_000 micro-dollars
    assert book.spent(KEY, USD, NOW) == 50_000 and book.exhausted(KEY, NOW) == USD
    assert writer.queued == {(7, USD, DAY): 50_000, (7, TOKENS, EPOCH): 500}
    assert book.exhausted(KEY, NOW + timedelta(days=1)) is None  # a new day
    refusal = check_budget(KEY, book, NOW)
    assert refusal is not None and (refusal.status, refusal.code) == (402, "budget_exceeded")
    assert "resets at 2026-12-07T00:00:00Z" in refusal.message


def test_views_sync_to_database_totals_plus_what_is_queued() -> None:
    writer = _Writer()
    book = BudgetBook(writer.charge, writer.pending)
    row = KeySpendSinceResult(key_id=7, kind=USD, period_start=DAY, amount=30_000)
    book.load([row], [SpendAdd(7, USD, DAY, 5_000, NOW)])
    assert book.spent(KEY, USD, NOW) == 35_000
    writer.queued = {(7, USD, DAY): 2_000}  # charged while the flush ran
    book.synced({(7, USD, DAY): 45_000})  # the flush's total includes other instances
    assert book.spent(KEY, USD, NOW) == 47_000


def test_remote_totals_never_lower_the_view() -> None:
    writer = _Writer()
    book = BudgetBook(writer.charge, writer.pending)
    (payload,) = spend_payloads({(7, USD, DAY): 40_000})
    book.receive_remote(payload)
    assert book.spent(KEY, USD, NOW) == 40_000
    (older,) = spend_payloads({(7, USD, DAY): 20_000})  # a slower instance's older total
    book.receive_remote(older)
    assert book.spent(KEY, USD, NOW) == 40_000
    book.receive_remote("not json")
    assert book.spent(KEY, USD, NOW) == 40_000


def test_spend_payloads_stay_under_the_notify_limit() -> None:
    totals = {(n, USD, DAY): 10**12 for n in range(2000)}
    payloads = spend_payloads(totals)
    assert len(payloads) > 1 and all(len(p) < 8000 for p in payloads)
    assert sum(len(json.loads(p)) for p in payloads) == 2000


def test_expiry() -> None:
    key = ClientKey(id=1, name="k", expires_at=NOW)
    assert check_expiry(key, NOW - timedelta(seconds=1)) is None
    refusal = check_expiry(key, NOW)
    assert refusal is not None and (refusal.status, refusal.code) == (403, "key_expired")
