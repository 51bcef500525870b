"""Build a config Snapshot from database rows.

Rows use the reference's stored shapes (camelCase JSON inside json columns,
the `config` settings keys); this module is the one place that reads them.
A pool's array order is the channels' id order (imports and creates append).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ccbridge.db.base import Database
from ccbridge.store.snapshot import (
    POOLS,
    RATELIMIT_SETTING,
    ActionStep,
    Channel,
    ClientKey,
    CompositeMapping,
    CompositeTarget,
    ContentFilter,
    ContentFilterRule,
    DebugLogConfig,
    FailoverConfig,
    FailoverRule,
    OAuthTokens,
    OutboundHeaderPolicy,
    Price,
    PriceMultiplier,
    PriceTable,
    RateLimitConfig,
    Snapshot,
    channel_allowlist_from_raw,
)
from generated.rows import ApiKeysRow, ChannelsRow, ModelPricingRow, SettingsRow

__all__ = ("build_snapshot", "lenient_object", "load_snapshot", "read_revision")

# Pool -> the api_keys column holding that pool's channel allowlist.
_ALLOWLIST_COLUMN = {
    "messages": "allowed_channels_msg",
    "responses": "allowed_channels_resp",
    "gemini": "allowed_channels_gemini",
    "chat": "allowed_channels_chat",
}


async def read_revision(db: Database) -> int:
    """Return the config revision stored in the database."""
    row = await db.daos.settings.get("config_revision")
    return int(row.value) if row is not None else 0


async def load_snapshot(db: Database) -> Snapshot:
    """Read settings, channels, keys and prices in one consistent read."""
    async with db.transaction(readonly=True) as tx:
        settings = await tx.settings.list()
        channels = await tx.channels.list(order_by="id")
        keys = await tx.api_keys.list(where={"status": "active"})
        prices = await tx.model_pricing.list()
    return build_snapshot(settings, channels, keys, prices)


def build_snapshot(
    settings: Iterable[SettingsRow],
    channels: Iterable[ChannelsRow],
    keys: Iterable[ApiKeysRow],
    prices: Iterable[ModelPricingRow],
) -> Snapshot:
    """Return the snapshot that the given rows describe."""
    values = {row.key: row.value for row in settings}
    pools: dict[str, list[Channel]] = {pool: [] for pool in POOLS}
    for row in channels:
        if row.channel_type in pools:
            pools[row.channel_type].append(_channel(row, len(pools[row.channel_type])))
    return Snapshot.build(
        revision=int(values.get("config_revision", "0")),
        channels=pools,
        keys=[_client_key(row, pools) for row in keys],
        prices=PriceTable(
            {p.model_id: _price(p) for p in prices},
            currency=values.get("pricing_currency") or "USD",
        ),
        load_balance={pool: values.get(f"{pool}_load_balance", "") for pool in POOLS},
        failover=_failover(_json_setting(values, "failover")),
        debug_log=_debug_log(_json_setting(values, "debug_log")),
        user_agents=_user_agents(_json_setting(values, "user_agent")),
        outbound_headers=_outbound(_json_setting(values, "outbound_header_policy")),
        ratelimit=_ratelimit(values.get(RATELIMIT_SETTING)),
        responses_websocket=_json_setting(values, "responses_websocket").get("enabled") is True,
    )


def _json_setting(values: Mapping[str, str], key: str) -> dict[str, Any]:
    raw = values.get(key)
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError as ex:
        raise ValueError(f"setting {key!r} is not valid JSON: {ex}") from None
    return parsed if isinstance(parsed, dict) else {}


def _channel(row: ChannelsRow, index: int) -> Channel:
    return Channel(
        uid=row.channel_id,
        pool=row.channel_type,
        index=index,
        name=row.name,
        service_type=row.service_type,
        base_url=row.base_url or "",
        api_keys=tuple(k for k in (row.api_keys or ()) if isinstance(k, str)),
        model_mapping={str(k): str(v) for k, v in (row.model_mapping or {}).items()},
        status=row.status or "active",
        priority=row.priority or 0,
        promotion_until=row.promotion_until,
        response_header_timeout=row.response_header_timeout or 120,
        description=row.description or "",
        website=row.website or "",
        insecure_skip_verify=bool(row.insecure_skip_verify),
        quota_type=row.quota_type or "",
        quota_limit=row.quota_limit or 0.0,
        quota_reset_at=row.quota_reset_at,
        quota_reset_interval=row.quota_reset_interval or 0,
        quota_reset_unit=row.quota_reset_unit or "",
        quota_reset_mode=row.quota_reset_mode or "fixed",
        quota_models=tuple(str(m) for m in (row.quota_models or ())),
        rate_limit_rpm=row.rate_limit_rpm or 0,
        queue_enabled=bool(row.queue_enabled),
        queue_timeout=row.queue_timeout or 60,
        key_load_balance=row.key_load_balance or "",
        price_multipliers=_multipliers(row.price_multipliers),
        content_filter=_content_filter(row.content_filter),
        oauth_tokens=_oauth(row.oauth_tokens),
        codex_service_tier_override=row.codex_service_tier_override or "",
        responses_encrypted_reasoning_mode=row.responses_encrypted_reasoning_mode or "",
        responses_websocket_enabled=bool(row.responses_websocket_enabled),
        continue_thinking_enabled=bool(row.continue_thinking_enabled),
        composite_mappings=tuple(
            _composite(m) for m in (row.composite_mappings or ()) if isinstance(m, dict)
        ),
    )


def _multipliers(raw: Any) -> dict[str, PriceMultiplier]:
    if not isinstance(raw, dict):
        return {}
    return {
        str(model): PriceMultiplier(
            input=_mult(m.get("inputMultiplier")),
            output=_mult(m.get("outputMultiplier")),
            cache_creation=_mult(m.get("cacheCreationMultiplier")),
            cache_read=_mult(m.get("cacheReadMultiplier")),
        )
        for model, m in raw.items()
        if isinstance(m, dict)
    }


def _mult(value: Any) -> float:
    # The reference treats a missing or zero multiplier as 1.
    return float(value) if isinstance(value, (int, float)) and value else 1.0


def _content_filter(raw: Any) -> ContentFilter | None:
    if not isinstance(raw, dict):
        return None
    default_status = int(raw.get("statusCode") or 429)
    rules = [
        ContentFilterRule(str(r["keyword"]), int(r.get("statusCode") or default_status))
        for r in raw.get("rules") or ()
        if isinstance(r, dict) and r.get("keyword")
    ]
    rules += [ContentFilterRule(str(k), default_status) for k in raw.get("keywords") or () if k]
    return ContentFilter(enabled=bool(raw.get("enabled")), rules=tuple(rules))


def _oauth(raw: Any) -> OAuthTokens | None:
    if not isinstance(raw, dict):
        return None
    fields = ("access_token", "account_id", "id_token", "refresh_token", "last_refresh")
    return OAuthTokens(**{f: str(raw.get(f) or "") for f in fields})


def _composite(raw: dict[str, Any]) -> CompositeMapping:
    targets = tuple(
        CompositeTarget(
            pool=str(t.get("pool") or "messages"), channel_id=str(t.get("channelId") or "")
        )
        for t in raw.get("failoverTargets") or ()
        if isinstance(t, dict)
    )
    legacy = raw.get("targetChannel")
    return CompositeMapping(
        pattern=str(raw.get("pattern") or ""),
        target_channel_id=str(raw.get("targetChannelId") or ""),
        target_pool=str(raw.get("targetPool") or "messages"),
        failover_chain=tuple(str(c) for c in raw.get("failoverChain") or ()),
        failover_targets=targets,
        target_model=str(raw.get("targetModel") or ""),
        target_channel=legacy if isinstance(legacy, int) else None,
    )


def _client_key(row: ApiKeysRow, pools: Mapping[str, list[Channel]]) -> ClientKey:
    allowed = {}
    endpoints = _str_list(row.allowed_endpoints)
    for pool, column in _ALLOWLIST_COLUMN.items():
        ids = channel_allowlist_from_raw(getattr(row, column), pools[pool])
        if ids is not None:
            allowed[pool] = ids
    return ClientKey(
        id=row.id or 0,
        name=row.name,
        key_hash=row.key_hash,
        is_admin=row.is_admin,
        status=row.status,
        rate_limit_rpm=row.rate_limit_rpm,
        allowed_endpoints=None if endpoints is None else frozenset(endpoints),
        allowed_models=_str_list(row.allowed_models),
        allowed_channels=allowed,
        expires_at=row.expires_at,
        budget_usd=row.budget_usd,
        budget_period=row.budget_period or "total",
        token_budget=row.token_budget,
        token_budget_period=row.token_budget_period or "total",
    )


def _str_list(raw: Any) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        # NOTE: a malformed allowlist fails closed: nothing matches this entry.
        return ("__invalid_parse_error__",)
    return tuple(str(v) for v in raw) or None


def _price(row: ModelPricingRow) -> Price:
    return Price(
        input_price=row.input_price,
        output_price=row.output_price,
        cache_creation_price=row.cache_creation_price,
        cache_read_price=row.cache_read_price,
        description=row.description or "",
        export_to_models=row.export_to_models,
    )


def _failover(raw: Mapping[str, Any]) -> FailoverConfig:
    rules = tuple(_rule(r) for r in raw.get("rules") or () if isinstance(r, dict))
    defaults = FailoverConfig()
    return FailoverConfig(
        enabled=bool(raw.get("enabled")),
        rules=rules,
        generic_resource_wait_seconds=int(
            raw.get("genericResourceWaitSeconds") or defaults.generic_resource_wait_seconds
        ),
        model_cooldown_extra_seconds=int(
            raw.get("modelCooldownExtraSeconds") or defaults.model_cooldown_extra_seconds
        ),
        model_cooldown_max_wait_seconds=int(
            raw.get("modelCooldownMaxWaitSeconds") or defaults.model_cooldown_max_wait_seconds
        ),
    )


def _rule(raw: Mapping[str, Any]) -> FailoverRule:
    chain = tuple(
        ActionStep(
            action=str(step.get("action") or ""),
            wait_seconds=int(step.get("waitSeconds") or 0),
            max_attempts=int(step.get("maxAttempts") or 0),
        )
        for step in raw.get("actionChain") or ()
        if isinstance(step, dict)
    )
    return FailoverRule(
        error_codes=str(raw.get("errorCodes") or ""),
        action_chain=chain,
        action=str(raw.get("action") or ""),
        threshold=int(raw.get("threshold") or 0),
        wait_seconds=int(raw.get("waitSeconds") or 0),
    )


def _debug_log(raw: Mapping[str, Any]) -> DebugLogConfig:
    d = DebugLogConfig()
    full = int(raw.get("fullRetentionHours") or raw.get("retentionHours") or d.full_retention_hours)
    return DebugLogConfig(
        enabled=bool(raw.get("enabled")),
        full_retention_hours=full,
        header_retention_hours=max(
            int(raw.get("headerRetentionHours") or d.header_retention_hours), full
        ),
        header_retention_forever=bool(raw.get("headerRetentionForever")),
        max_body_size=int(raw.get("maxBodySize") or d.max_body_size),
    )


def _user_agents(raw: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for pool in ("messages", "responses"):
        entry = raw.get(pool)
        if isinstance(entry, dict) and entry.get("latest"):
            out[pool] = str(entry["latest"])
    return out


def lenient_object(raw: str | None) -> dict[str, Any]:
    """Return a stored JSON object; {} when empty, malformed or no object."""
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _ratelimit(raw: str | None) -> RateLimitConfig:
    # NOTE(ccbridge): lenient, unlike the other JSON settings: a malformed
    # row means the default limits rather than a config that cannot load.
    return RateLimitConfig.parse(lenient_object(raw))


def _outbound(raw: Mapping[str, Any]) -> OutboundHeaderPolicy:
    if not raw:
        return OutboundHeaderPolicy()
    rules = raw.get("stripRules")
    return OutboundHeaderPolicy(
        enabled=bool(raw.get("enabled", True)),
        strip_rules=tuple(str(r) for r in rules)
        if isinstance(rules, list)
        else OutboundHeaderPolicy().strip_rules,
    )
