"""Whether a key may still spend: its expiry and its budgets.

Both are refusals a client must not retry as an overload: an expired key
answers 403 ``key_expired``, a spent budget 402 ``budget_exceeded`` (the
status of payment required; LiteLLM uses type ``budget_exceeded`` too).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from ccbridge.access.permissions import Denial
from ccbridge.store.budgets import USD, BudgetBook, next_reset
from ccbridge.store.snapshot import ClientKey

__all__ = ("BUDGET_EXCEEDED", "KEY_EXPIRED", "check_budget", "check_expiry")

KEY_EXPIRED: Final = "key_expired"
BUDGET_EXCEEDED: Final = "budget_exceeded"


def check_expiry(key: ClientKey, now: datetime) -> Denial | None:
    """Return a refusal when the key has expired."""
    if key.expires_at is None or now < key.expires_at:
        return None
    return Denial(KEY_EXPIRED, f"this API key expired at {_stamp(key.expires_at)}")


def check_budget(key: ClientKey, budgets: BudgetBook, now: datetime) -> Denial | None:
    """Return a refusal when the key has spent a budget of its period."""
    if not key.has_budget:
        return None
    kind = budgets.exhausted(key, now)
    if kind is None:
        return None
    if kind == USD:
        period, what = key.budget_period, f"spend budget of ${key.budget_usd:g}"
    else:
        period, what = key.token_budget_period, f"token budget of {key.token_budget}"
    reset = next_reset(period, now)
    when = f"; it resets at {_stamp(reset)}" if reset is not None else ""
    return Denial(BUDGET_EXCEEDED, f"this API key has spent its {period} {what}{when}", 402)


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")
