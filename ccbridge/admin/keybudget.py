"""The expiry and budget fields of a client key in the admin API.

Input fields (create, update, backup restore), the spend so far of the
current period as the database holds it, and the KeyBudgetView model of
/api/logs/stats. A JSON
null clears a budget or the expiry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any, Final

import msgspec

from ccbridge.admin.validate import choice, integer, number, timestamp
from ccbridge.store.budgets import (
    EPOCH,
    MICRO,
    PERIODS,
    TOKENS,
    USD,
    next_reset,
    period_start,
)
from ccbridge.store.shapes import BudgetPeriod
from generated.dao import Daos
from generated.rows import ApiKeysRow, KeySpendSinceResult

__all__ = (
    "BUDGET_FIELDS",
    "CLEARABLE",
    "KeyBudgetView",
    "KeyLimits",
    "Spend",
    "budget_columns",
    "key_budgets",
    "limits_view",
    "read_spend",
    "spend_view",
)

_MAX_USD: Final = 1e9
_MAX_TOKENS: Final = 10**15

# camelCase field -> (column, validator); null clears the column.
BUDGET_FIELDS: Final[dict[str, tuple[str, Callable[[str, Any], Any]]]] = {
    "expiresAt": ("expires_at", timestamp),
    "budgetUsd": ("budget_usd", partial(number, lo=0.0, hi=_MAX_USD)),
    "budgetPeriod": ("budget_period", partial(choice, options=PERIODS)),
    "tokenBudget": ("token_budget", partial(integer, lo=0, hi=_MAX_TOKENS)),
    "tokenBudgetPeriod": ("token_budget_period", partial(choice, options=PERIODS)),
}
CLEARABLE: Final = frozenset(column for column, _ in BUDGET_FIELDS.values())


def _d(description: str) -> msgspec.Meta:
    return msgspec.Meta(description=description)


_PERIODS: Final = "daily, weekly (from Monday), monthly or total (never resets)"
Spend = dict[tuple[int, str, datetime], int]


def budget_columns(item: dict[str, Any], where: str) -> dict[str, Any]:
    """Return the budget columns of a key object (a backup's), validated."""
    columns = {}
    for name, (column, check) in BUDGET_FIELDS.items():
        value = item.get(name)
        columns[column] = None if value is None else check(f"{where}.{name}", value)
    return columns


async def read_spend(tx: Daos, now: datetime) -> Spend:
    """Return every key's spend of the periods that can be current."""
    rows: Iterable[KeySpendSinceResult] = await tx.key_spend.since(
        since=min(period_start("monthly", now), period_start("weekly", now)), epoch=EPOCH
    )
    return {
        (r.key_id, r.kind, r.period_start): r.amount or 0
        for r in rows
        if r.key_id is not None and r.kind and r.period_start is not None
    }


def spend_view(row: ApiKeysRow, spend: Spend, now: datetime) -> dict[str, Any]:
    """Return the key's expiry state and the spend of its current periods (KeySpend fields)."""
    key_id = row.id or 0
    usd_period = row.budget_period or "total"
    token_period = row.token_budget_period or "total"
    used_usd = spend.get((key_id, USD, period_start(usd_period, now)), 0)
    used_tokens = spend.get((key_id, TOKENS, period_start(token_period, now)), 0)
    has_usd, has_tokens = row.budget_usd is not None, row.token_budget is not None
    return {
        "expired": row.expires_at is not None and row.expires_at <= now,
        "spentUsd": used_usd / MICRO if has_usd else None,
        "budgetResetsAt": next_reset(usd_period, now) if has_usd else None,
        "tokensUsed": used_tokens if has_tokens else None,
        "tokenBudgetResetsAt": next_reset(token_period, now) if has_tokens else None,
    }


def limits_view(row: ApiKeysRow) -> dict[str, Any]:
    """Return the key's expiry and budgets as set (KeyLimits fields; periods default total)."""
    return {
        "expiresAt": row.expires_at,
        "budgetUsd": None if row.budget_usd is None else float(row.budget_usd),
        "budgetPeriod": row.budget_period or ("total" if row.budget_usd is not None else None),
        "tokenBudget": row.token_budget,
        "tokenBudgetPeriod": row.token_budget_period
        or ("total" if row.token_budget is not None else None),
    }


class KeyLimits(msgspec.Struct):
    """A client key's expiry and budgets as set, and its spend of the current periods."""

    expiresAt: Annotated[datetime | None, _d("The key stops working then; null = never.")]
    budgetUsd: Annotated[float | None, _d("USD the key may spend per budgetPeriod; null = none.")]
    budgetPeriod: Annotated[BudgetPeriod | None, _d(f"UTC period of budgetUsd; {_PERIODS}.")]
    tokenBudget: Annotated[int | None, _d("Input + output tokens per period; null = none.")]
    tokenBudgetPeriod: Annotated[BudgetPeriod | None, _d(f"UTC period of tokenBudget; {_PERIODS}.")]
    expired: Annotated[bool, _d("Whether expiresAt has passed.")]
    spentUsd: Annotated[float | None, _d("USD spent this budget period; null = no budget.")]
    budgetResetsAt: Annotated[
        datetime | None, _d("When the USD period ends; null = no budget or a total one.")
    ]
    tokensUsed: Annotated[int | None, _d("Tokens used this period; null = no token budget.")]
    tokenBudgetResetsAt: Annotated[
        datetime | None, _d("When the token period ends; null = no budget or a total one.")
    ]


class KeyBudgetView(KeyLimits):
    """/api/logs/stats: a client key with a budget or an expiry."""

    name: Annotated[str, _d("Display name of the key.")]


async def key_budgets(tx: Daos) -> dict[str, KeyBudgetView]:
    """Return each key with a budget or an expiry, by key id: its limits and current spend."""
    now = datetime.now(UTC)
    spend = await read_spend(tx, now)
    out = {}
    for row in await tx.api_keys.list(order_by="id"):
        if row.budget_usd is None and row.token_budget is None and row.expires_at is None:
            continue
        out[str(row.id)] = KeyBudgetView(
            name=row.name, **limits_view(row), **spend_view(row, spend, now)
        )
    return out
