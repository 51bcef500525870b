"""The expiry and budget fields of a client key in the admin API.

Input fields (create, update, backup restore), the spend so far of the
current period as the database holds it, and their OpenAPI schemas. A JSON
null clears a budget or the expiry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final

from ccbridge.admin import spec
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
from ccbridge.store.configdoc import iso, key_object
from generated.dao import Daos
from generated.rows import ApiKeysRow, KeySpendSinceResult

__all__ = (
    "BUDGET_FIELDS",
    "CLEARABLE",
    "INPUT_PROPS",
    "VIEW_PROPS",
    "KEY_BUDGETS_SCHEMA",
    "budget_columns",
    "key_budgets",
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
    """Return the key's expiry state and the spend of its current periods."""
    key_id = row.id or 0
    usd_period = row.budget_period or "total"
    token_period = row.token_budget_period or "total"
    used_usd = spend.get((key_id, USD, period_start(usd_period, now)), 0)
    used_tokens = spend.get((key_id, TOKENS, period_start(token_period, now)), 0)
    has_usd, has_tokens = row.budget_usd is not None, row.token_budget is not None
    return {
        "expired": row.expires_at is not None and row.expires_at <= now,
        "spentUsd": used_usd / MICRO if has_usd else None,
        "budgetResetsAt": iso(next_reset(usd_period, now)) if has_usd else None,
        "tokensUsed": used_tokens if has_tokens else None,
        "tokenBudgetResetsAt": iso(next_reset(token_period, now)) if has_tokens else None,
    }


async def key_budgets(tx: Daos) -> dict[str, dict[str, Any]]:
    """Return each key with a budget or an expiry: its limits and current spend."""
    now = datetime.now(UTC)
    spend = await read_spend(tx, now)
    out = {}
    for row in await tx.api_keys.list(order_by="id"):
        if row.budget_usd is None and row.token_budget is None and row.expires_at is None:
            continue
        view = key_object(row)
        limits = {name: view[name] for name in BUDGET_FIELDS}
        out[str(row.id)] = {"name": row.name, **limits, **spend_view(row, spend, now)}
    return out


_PERIOD: Final = {"type": ["string", "null"], "enum": [*PERIODS, None]}
INPUT_PROPS: Final[dict[str, Any]] = {
    "expiresAt": {**spec.DATETIME, "description": "RFC 3339; the key stops working then"},
    "budgetUsd": spec.nullable(
        {"type": "number", "minimum": 0, "maximum": _MAX_USD, "description": "USD per period"}
    ),
    "budgetPeriod": {**_PERIOD, "description": "UTC period of budgetUsd (default total)"},
    "tokenBudget": spec.nullable(
        {"type": "integer", "minimum": 0, "maximum": _MAX_TOKENS, "description": "per period"}
    ),
    "tokenBudgetPeriod": {**_PERIOD, "description": "UTC period of tokenBudget (default total)"},
}
VIEW_PROPS: Final[dict[str, Any]] = {
    **INPUT_PROPS,
    "expired": spec.BOOL,
    "spentUsd": spec.nullable({"type": "number", "description": "spent this budget period"}),
    "budgetResetsAt": {**spec.DATETIME, "description": "null for a total budget"},
    "tokensUsed": spec.nullable({"type": "integer", "description": "input + output tokens"}),
    "tokenBudgetResetsAt": spec.DATETIME,
}
KEY_BUDGETS_SCHEMA: Final = {
    "type": "object",
    "description": "keys with a budget or an expiry, by key id",
    "additionalProperties": {
        "type": "object",
        "properties": {"name": {"type": "string"}, **VIEW_PROPS},
    },
}
