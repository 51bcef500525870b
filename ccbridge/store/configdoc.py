"""The configuration as the reference's documents, read from and written to the database.

Shapes (spec §2): channel objects of ``config.json``, ``pricing.json``,
``model-aliases.json``, user aliases, the JSON settings sections, and the
backup document ``{version, createdAt, config, pricing, aliases,
userAliases, ratelimit[, apiKeys]}`` that holds them all. The admin API,
JSON mode and restore call these inside one config write (`ConfigWriter`);
request validation stays with whoever receives the document.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from ccbridge.store.defaults import default_failover_section
from ccbridge.store.snapshot import DEFAULT_RATELIMIT, RATELIMIT_SETTING
from generated.dao import Daos
from generated.rows import (
    ApiKeysRow,
    ChannelsRow,
    ModelAliasesRow,
    ModelPricingRow,
    SettingsRow,
    UserAliasesRow,
)

__all__ = (
    "ALIAS_LISTS",
    "BACKUP_VERSION",
    "CHANNEL_COLUMNS",
    "POOL_KEYS",
    "SECTION_DEFAULTS",
    "SECTION_KEYS",
    "RestorePlan",
    "apply_restore",
    "channel_object",
    "export",
    "iso",
    "key_object",
    "mask_key",
    "price_object",
    "pricing_view",
    "read_model_aliases",
    "read_pricing",
    "read_section",
    "read_user_aliases",
    "replace_model_aliases",
    "replace_pricing",
    "replace_user_aliases",
    "section_row",
)

BACKUP_VERSION: Final = "1.0"

# camelCase field of a channel object -> its ``channels`` column
CHANNEL_COLUMNS: Final = {
    "id": "channel_id",
    "name": "name",
    "serviceType": "service_type",
    "baseUrl": "base_url",
    "apiKeys": "api_keys",
    "description": "description",
    "website": "website",
    "insecureSkipVerify": "insecure_skip_verify",
    "modelMapping": "model_mapping",
    "responseHeaderTimeout": "response_header_timeout",
    "priority": "priority",
    "status": "status",
    "promotionUntil": "promotion_until",
    "priceMultipliers": "price_multipliers",
    "oauthTokens": "oauth_tokens",
    "codexServiceTierOverride": "codex_service_tier_override",
    "responsesEncryptedReasoningMode": "responses_encrypted_reasoning_mode",
    "responsesWebSocketEnabled": "responses_websocket_enabled",
    "continueThinkingEnabled": "continue_thinking_enabled",
    "quotaType": "quota_type",
    "quotaLimit": "quota_limit",
    "quotaResetAt": "quota_reset_at",
    "quotaResetInterval": "quota_reset_interval",
    "quotaResetUnit": "quota_reset_unit",
    "quotaModels": "quota_models",
    "quotaResetMode": "quota_reset_mode",
    "rateLimitRpm": "rate_limit_rpm",
    "queueEnabled": "queue_enabled",
    "queueTimeout": "queue_timeout",
    "keyLoadBalance": "key_load_balance",
    "compositeMappings": "composite_mappings",
    "contentFilter": "content_filter",
}
_SECRET_COLUMNS: Final = ("api_keys", "oauth_tokens")

# pool -> (channel list key, load-balance key) in config.json
POOL_KEYS: Final = {
    "messages": ("upstream", "loadBalance"),
    "responses": ("responsesUpstream", "responsesLoadBalance"),
    "gemini": ("geminiUpstream", "geminiLoadBalance"),
    "chat": ("chatUpstream", "chatLoadBalance"),
}
# config.json key -> settings key of a JSON section
SECTION_KEYS: Final = {
    "debugLog": "debug_log",
    "failover": "failover",
    "userAgent": "user_agent",
    "outboundHeaderPolicy": "outbound_header_policy",
}
_DEBUG_LOG: Final = {
    "enabled": False,
    "retentionHours": 0,
    "fullRetentionHours": 24,
    "headerRetentionHours": 168,
    "headerRetentionForever": False,
    "maxBodySize": 1_048_576,
}
_USER_AGENT: Final = {
    "messages": {"latest": "claude-cli/2.1.12 (external, cli)"},
    "responses": {"latest": "codex_cli_rs/0.73.0 (Linux; x86_64)"},
}
_OUTBOUND: Final = {
    "enabled": True,
    "stripRules": ["Cf-*", "X-Forwarded-*"],
    "initialized": True,
}


def _copy(value: Mapping[str, Any]) -> Callable[[], dict[str, Any]]:
    return lambda: json.loads(json.dumps(value))


# settings key of a JSON section -> a fresh copy of its defaults
SECTION_DEFAULTS: Final[dict[str, Callable[[], dict[str, Any]]]] = {
    RATELIMIT_SETTING: _copy(DEFAULT_RATELIMIT),
    "debug_log": _copy(_DEBUG_LOG),
    "user_agent": _copy(_USER_AGENT),
    "outbound_header_policy": _copy(_OUTBOUND),
    "failover": default_failover_section,
    "responses_websocket": _copy({"enabled": False}),
}

# JSON list name of model-aliases.json -> alias_type
ALIAS_LISTS: Final = {
    "messagesModels": "messages",
    "responsesModels": "responses",
    "geminiModels": "gemini",
}


def iso(value: datetime | None) -> str | None:
    """Return a UTC time as the reference writes it (``…Z``), or None."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def channel_object(row: ChannelsRow, *, include_secrets: bool) -> dict[str, Any]:
    """Return the reference's channel object of a row (backups, config.json).

    Keys and OAuth tokens are included only with ``include_secrets``.
    """
    out: dict[str, Any] = {}
    for name, column in CHANNEL_COLUMNS.items():
        if not include_secrets and column in _SECRET_COLUMNS:
            continue
        value = getattr(row, column)
        if value is None:
            continue
        out[name] = iso(value) if isinstance(value, datetime) else value
    return out


def mask_key(key: str) -> str:
    """Return a key shown safely: first 8 + ``...`` + last 4."""
    return f"{key[:8]}...{key[-4:]}" if len(key) > 12 else "***"


def key_object(row: ApiKeysRow) -> dict[str, Any]:
    """Return the view of a client key (never the key or its hash)."""
    return {
        "id": row.id,
        "name": row.name,
        "keyPrefix": row.key_prefix,
        "description": row.description or "",
        "status": row.status,
        "isAdmin": row.is_admin,
        "rateLimitRpm": row.rate_limit_rpm,
        "allowedEndpoints": row.allowed_endpoints,
        "allowedChannelsMsg": row.allowed_channels_msg,
        "allowedChannelsResp": row.allowed_channels_resp,
        "allowedChannelsGemini": row.allowed_channels_gemini,
        "allowedChannelsChat": row.allowed_channels_chat,
        "allowedModels": row.allowed_models,
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
        "lastUsedAt": iso(row.last_used_at),
        "expiresAt": iso(row.expires_at),
        "budgetUsd": None if row.budget_usd is None else float(row.budget_usd),
        "budgetPeriod": row.budget_period or ("total" if row.budget_usd is not None else None),
        "tokenBudget": row.token_budget,
        "tokenBudgetPeriod": row.token_budget_period
        or ("total" if row.token_budget is not None else None),
    }


def price_object(row: ModelPricingRow) -> dict[str, Any]:
    """Return one model's price object of pricing.json."""
    return {
        "inputPrice": row.input_price,
        "outputPrice": row.output_price,
        "cacheCreationPrice": row.cache_creation_price,
        "cacheReadPrice": row.cache_read_price,
        "description": row.description or "",
        "exportToModels": row.export_to_models is not False,
    }


def pricing_view(rows: list[ModelPricingRow], currency: str) -> dict[str, Any]:
    """Return the pricing.json shape of the given rows."""
    return {"models": {r.model_id: price_object(r) for r in rows}, "currency": currency}


async def read_pricing(tx: Daos) -> dict[str, Any]:
    """Return the stored price table in the pricing.json shape."""
    currency = await tx.settings.get("pricing_currency")
    rows = await tx.model_pricing.list(order_by="model_id")
    return pricing_view(rows, currency.value if currency is not None else "USD")


async def replace_pricing(tx: Daos, rows: list[ModelPricingRow], currency: str) -> None:
    """Replace every price and the currency."""
    await tx.model_pricing.clear()
    await tx.model_pricing.insert_many(rows)
    await tx.settings.upsert(
        SettingsRow(key="pricing_currency", value=currency, category="pricing")
    )


async def read_model_aliases(tx: Daos) -> dict[str, list[dict[str, str]]]:
    """Return the stored model aliases in the model-aliases.json shape."""
    out: dict[str, list[dict[str, str]]] = {name: [] for name in ALIAS_LISTS}
    names = {kind: name for name, kind in ALIAS_LISTS.items()}
    for row in await tx.model_aliases.list(order_by=("sort_order", "id")):
        if row.alias_type in names:
            out[names[row.alias_type]].append(
                {"value": row.value, "description": row.description or ""}
            )
    return out


async def replace_model_aliases(tx: Daos, rows: list[ModelAliasesRow]) -> None:
    """Replace every model alias."""
    await tx.model_aliases.clear()
    await tx.model_aliases.insert_many(rows)


async def read_user_aliases(tx: Daos) -> dict[str, str]:
    """Return every user alias as ``{userId: alias}``."""
    return {r.user_id: r.alias for r in await tx.user_aliases.list(order_by="user_id")}


async def replace_user_aliases(tx: Daos, rows: list[UserAliasesRow]) -> None:
    """Replace every user alias."""
    await tx.user_aliases.clear()
    await tx.user_aliases.insert_many(rows)


async def read_section(tx: Daos, key: str) -> dict[str, Any]:
    """Return the stored object of a JSON settings section over its defaults."""
    default = SECTION_DEFAULTS[key]
    row = await tx.settings.get(key)
    if row is None or not row.value:
        return default()
    try:
        value = json.loads(row.value)
    except ValueError:
        return default()
    return {**default(), **value} if isinstance(value, dict) else default()


def section_row(key: str, value: dict[str, Any]) -> SettingsRow:
    """Return the settings row storing a section's object."""
    return SettingsRow(key=key, value=json.dumps(value), category="config")


async def export(tx: Daos, include_keys: bool) -> dict[str, Any]:
    """Return the backup document of the current configuration."""
    config: dict[str, Any] = {}
    rows = await tx.channels.list(order_by="id")
    for pool, (list_key, lb_key) in POOL_KEYS.items():
        config[list_key] = [
            channel_object(r, include_secrets=include_keys) for r in rows if r.channel_type == pool
        ]
        lb = await tx.settings.get(f"{pool}_load_balance")
        config[lb_key] = lb.value if lb is not None and lb.value else "failover"
    for name, key in SECTION_KEYS.items():
        config[name] = await read_section(tx, key)
    doc: dict[str, Any] = {
        "version": BACKUP_VERSION,
        "createdAt": iso(datetime.now(UTC)),
        "config": config,
        "pricing": await read_pricing(tx),
        "aliases": await read_model_aliases(tx),
        "userAliases": await read_user_aliases(tx),
        "ratelimit": await read_section(tx, RATELIMIT_SETTING),
    }
    if include_keys:
        doc["apiKeys"] = [
            {**key_object(k), "keyHash": k.key_hash} for k in await tx.api_keys.list(order_by="id")
        ]
    return doc


@dataclasses.dataclass(slots=True)
class RestorePlan:
    """A validated backup, ready to write (None: that part is left as it is)."""

    channels: list[ChannelsRow]
    settings: list[SettingsRow]
    pricing: tuple[list[ModelPricingRow], str] | None
    model_aliases: list[ModelAliasesRow] | None
    user_aliases: list[UserAliasesRow] | None
    keys: list[ApiKeysRow] | None


async def apply_restore(tx: Daos, plan: RestorePlan) -> int:
    """Replace the configuration with a validated backup; return channels.

    A channel restored without keys (or OAuth tokens) keeps those of the
    channel with the same id, so a backup taken without secrets restores.
    """
    old = {r.channel_id: r for r in await tx.channels.list()}
    await tx.channels.clear()
    for row in plan.channels:
        prior = old.get(row.channel_id)
        if prior is not None and row.api_keys is None:
            row = dataclasses.replace(row, api_keys=prior.api_keys)
        if prior is not None and row.oauth_tokens is None:
            row = dataclasses.replace(row, oauth_tokens=prior.oauth_tokens)
        await tx.channels.insert(row)
    for setting in plan.settings:
        await tx.settings.upsert(setting)
    if plan.pricing is not None:
        await replace_pricing(tx, *plan.pricing)
    if plan.model_aliases is not None:
        await replace_model_aliases(tx, plan.model_aliases)
    if plan.user_aliases is not None:
        await replace_user_aliases(tx, plan.user_aliases)
    if plan.keys is not None:
        await _replace_keys(tx, plan.keys)
    return len(plan.channels)


async def _replace_keys(tx: Daos, rows: list[ApiKeysRow]) -> None:
    """Make api_keys hold exactly ``rows``, keeping ids of the same hashes."""
    current = {r.key_hash: r for r in await tx.api_keys.list()}
    wanted = {r.key_hash for r in rows}
    for key_hash, row in current.items():
        if key_hash not in wanted:
            assert row.id is not None
            await tx.api_keys.delete(row.id)
    for row in rows:
        prior = current.get(row.key_hash)
        if prior is None:
            await tx.api_keys.insert(row)
        else:
            await tx.api_keys.update(dataclasses.replace(row, id=prior.id))
