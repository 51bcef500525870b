"""Defaults: prices and model aliases seeded into a new database; failover rules.

Each is seeded once (a settings marker records it), so a table the
operator emptied on purpose stays empty, unlike the reference, which
refilled both on every boot. Model aliases are seeded into a new database
only: an older database that never had them may have had them deleted.
USD per million tokens; a None cache price means the default (input ×
1.25 to write, input × 0.1 to read).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from ccbridge.db.base import Database
from ccbridge.store.snapshot import ActionStep, FailoverRule
from generated.dao import Daos
from generated.rows import ModelAliasesRow, ModelPricingRow, SettingsRow

__all__ = (
    "DEFAULT_MODEL_ALIASES",
    "DEFAULT_PRICES",
    "default_model_alias_rows",
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

# The model picker's suggestions, in the model-aliases.json shape.
DEFAULT_MODEL_ALIASES: dict[str, list[dict[str, str]]] = {
    "messagesModels": [
        {"value": "opus", "description": "Claude Opus"},
        {"value": "sonnet", "description": "Claude Sonnet"},
        {"value": "haiku", "description": "Claude Haiku"},
    ],
    "responsesModels": [
        {"value": "gpt-5.1-codex", "description": "GPT-5.1 Codex"},
        {"value": "gpt-5.1-codex-mini", "description": "GPT-5.1 Codex Mini"},
        {"value": "gpt-5.1", "description": "GPT-5.1"},
    ],
    "geminiModels": [
        {"value": "gemini-3-pro", "description": "Gemini 3 Pro"},
        {"value": "gemini-3-flash", "description": "Gemini 3 Flash"},
    ],
}
_ALIAS_TYPES = {
    "messagesModels": "messages",
    "responsesModels": "responses",
    "geminiModels": "gemini",
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


def default_model_alias_rows() -> list[ModelAliasesRow]:
    """Return the default model aliases as model_aliases rows."""
    return [
        ModelAliasesRow(
            alias_type=_ALIAS_TYPES[name],
            value=entry["value"],
            description=entry["description"],
            sort_order=order,
        )
        for name, entries in DEFAULT_MODEL_ALIASES.items()
        for order, entry in enumerate(entries)
    ]


async def seed_defaults(db: Database) -> bool:
    """Seed default prices and model aliases into a new database; True if it did."""
    async with db.transaction() as tx:
        if await tx.settings.get(_MARKER) is not None:
            return False
        now = datetime.now(UTC).isoformat()
        if await tx.model_pricing.count() == 0:
            await tx.model_pricing.insert_many(default_price_rows())
            await tx.settings.bump_revision()
        await _seed_model_aliases(tx)
        await tx.settings.upsert(SettingsRow(key=_MARKER, value=now, category="config_meta"))
    return True


async def _seed_model_aliases(tx: Daos) -> None:
    # An imported model-aliases.json came first: keep it.
    if await tx.model_aliases.count() == 0:
        await tx.model_aliases.insert_many(default_model_alias_rows())
        await tx.settings.bump_revision()


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
