"""Defaults: list prices seeded into a new database, and the built-in failover rules.

Seeded once (the `defaults_seeded` setting records it), so a price table
the operator emptied on purpose stays empty, unlike the reference, which
refilled it on every boot. USD per million tokens; a None cache price
means the default (input × 1.25 to write, input × 0.1 to read).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from ccbridge.db.base import Database
from ccbridge.store.snapshot import ActionStep, FailoverRule
from generated.rows import ModelPricingRow, SettingsRow

__all__ = (
    "DEFAULT_PRICES",
    "default_failover_section",
    "default_price_rows",
    "default_rules",
    "seed_defaults",
)

# model id: (input, output, cache write, cache read, description)
DEFAULT_PRICES: dict[str, tuple[float, float, float | None, float | None, str]] = {
    "claude-opus-4-5": (5.0, 25.0, 6.25, 0.5, "Claude Opus 4.5"),
    "claude-opus-4-1": (15.0, 75.0, 18.75, 1.5, "Claude Opus 4.1"),
    "claude-sonnet-4-5": (3.0, 15.0, 3.75, 0.3, "Claude Sonnet 4.5"),
    "claude-sonnet-4": (3.0, 15.0, 3.75, 0.3, "Claude Sonnet 4"),
    "claude-haiku-4-5": (1.0, 5.0, 1.25, 0.1, "Claude Haiku 4.5"),
    "claude-3-5-haiku": (0.8, 4.0, 1.0, 0.08, "Claude Haiku 3.5"),
    # OpenAI bills no cache writes: writing costs the plain input price.
    "gpt-5.1": (1.25, 10.0, 1.25, 0.125, "GPT-5.1"),
    "gpt-5.1-codex": (1.25, 10.0, 1.25, 0.125, "GPT-5.1 Codex"),
    "gpt-5": (1.25, 10.0, 1.25, 0.125, "GPT-5"),
    "gpt-5-codex": (1.25, 10.0, 1.25, 0.125, "GPT-5 Codex"),
    "gpt-5-mini": (0.25, 2.0, 0.25, 0.025, "GPT-5 mini"),
}

_MARKER = "defaults_seeded"


def default_price_rows() -> list[ModelPricingRow]:
    """Return the default prices as model_pricing rows."""
    return [
        ModelPricingRow(
            model_id=model,
            input_price=inp,
            output_price=out,
            cache_creation_price=write,
            cache_read_price=read,
            description=desc,
        )
        for model, (inp, out, write, read, desc) in DEFAULT_PRICES.items()
    ]


async def seed_defaults(db: Database) -> bool:
    """Seed default prices into a new database; True if it did."""
    async with db.transaction() as tx:
        if await tx.settings.get(_MARKER) is not None:
            return False
        if await tx.model_pricing.count() == 0:
            await tx.model_pricing.insert_many(default_price_rows())
            await tx.settings.bump_revision()
        now = datetime.now(UTC).isoformat()
        await tx.settings.upsert(SettingsRow(key=_MARKER, value=now, category="config_meta"))
    return True


@functools.cache
def default_rules() -> tuple[FailoverRule, ...]:
    """Return the built-in rules used when none are configured."""
    retry, failover, suspend = "retry", "failover", "suspend"
    return (
        FailoverRule("429:QUOTA_EXHAUSTED", (ActionStep(suspend),)),
        FailoverRule("403:CREDIT_EXHAUSTED", (ActionStep(suspend),)),
        FailoverRule("429:model_cooldown", (ActionStep(retry, 0, 99), ActionStep(failover))),
        FailoverRule("429:RESOURCE_EXHAUSTED", (ActionStep(retry, 20, 99), ActionStep(failover))),
        FailoverRule("429", (ActionStep(retry, 5, 3), ActionStep(failover))),
        FailoverRule("401,403", (ActionStep(failover),)),
        FailoverRule("500,502,503,504", (ActionStep(retry, 5, 2), ActionStep(failover))),
    )


def default_failover_section() -> dict[str, Any]:
    """Return the ``failover`` setting's defaults (rules off, built-in chains)."""
    rules = [
        {
            "errorCodes": rule.error_codes,
            "actionChain": [
                {
                    k: v
                    for k, v in (
                        ("action", s.action),
                        ("waitSeconds", s.wait_seconds),
                        ("maxAttempts", s.max_attempts),
                    )
                    if v
                }
                for s in rule.action_chain
            ],
        }
        for rule in default_rules()
    ]
    return {
        "enabled": False,
        "rules": rules,
        "genericResourceWaitSeconds": 20,
        "modelCooldownExtraSeconds": 1,
        "modelCooldownMaxWaitSeconds": 60,
    }
