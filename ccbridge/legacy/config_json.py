"""config.json (cc-bridge, Go) → channel rows and settings rows.

Reads all four pools and every channel field of reference §2.1, applies
the Go JSON loader's fix-ups (§2.1: status migration, failover rule
chains, ``others`` downgrade, user-agent defaults, key-less channels
suspended, missing ids generated) and its load-time normalisations, and
rejects what the reference rejects: duplicate names in a pool, duplicate
or reserved ids. Pure: nothing here touches a database or the file.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from ccbridge.legacy.channel_map import ChannelMap, ChannelRef
from ccbridge.legacy.jsonread import Node, load_json
from generated.rows import ChannelsRow, SettingsRow

__all__ = (
    "CONFIG_CATEGORY",
    "ConfigImport",
    "DEFAULT_MESSAGES_USER_AGENT",
    "DEFAULT_RESPONSES_USER_AGENT",
    "parse_config",
)

CONFIG_CATEGORY: Final = "config"
DEFAULT_MESSAGES_USER_AGENT: Final = "claude-cli/2.1.12 (external, cli)"
DEFAULT_RESPONSES_USER_AGENT: Final = "codex_cli_rs/0.73.0 (Linux; x86_64)"

_POOL_KEYS: Final = (
    ("upstream", "messages"),
    ("responsesUpstream", "responses"),
    ("geminiUpstream", "gemini"),
    ("chatUpstream", "chat"),
)
# Pools whose channels predate the status field, with their legacy
# "current channel" index key (Go loadConfig).
_CURRENT_KEYS: Final = {"messages": "currentUpstream", "responses": "currentResponsesUpstream"}
_STATUSES: Final = ("active", "suspended", "disabled")
_RESERVED_ID_PREFIX: Final = "__invalid_"
_DEFAULT_LOAD_BALANCE: Final = "failover"
_MESSAGES_UA: Final = re.compile(r"(?i)^claude-cli/[0-9]+(?:\.[0-9]+)*")
_RESPONSES_UA: Final = re.compile(r"(?i)^(?:codex_cli_rs|codex-tui)/[0-9]+(?:\.[0-9]+)*")
_DEFAULT_STRIP_RULES: Final = ("Cf-*", "X-Forwarded-*")
_TIER_OVERRIDES: Final = ("off", "force_priority", "force_default")
_REASONING_MODES: Final = ("auto", "always", "off")

# Nested objects kept as JSON: member name -> kind ("str", "int", "num",
# "bool", "strs", a nested shape, or [shape] for a list of objects).
Shape = Mapping[str, Any]
_MULTIPLIERS: Final[Shape] = {
    "inputMultiplier": "num",
    "outputMultiplier": "num",
    "cacheCreationMultiplier": "num",
    "cacheReadMultiplier": "num",
}
_OAUTH: Final[Shape] = {
    k: "str" for k in ("access_token", "account_id", "id_token", "refresh_token", "last_refresh")
}
_COMPOSITE: Final[Shape] = {
    "pattern": "str",
    "targetChannelId": "str",
    "targetPool": "str",
    "failoverChain": "strs",
    "failoverTargets": [{"pool": "str", "channelId": "str"}],
    "targetModel": "str",
    "targetChannel": "int",
}
_CONTENT_FILTER: Final[Shape] = {
    "enabled": "bool",
    "rules": [{"keyword": "str", "statusCode": "int"}],
    "keywords": "strs",
    "statusCode": "int",
}
_DEBUG_LOG: Final[Shape] = {
    "enabled": "bool",
    "retentionHours": "int",
    "fullRetentionHours": "int",
    "headerRetentionHours": "int",
    "headerRetentionForever": "bool",
    "maxBodySize": "int",
}
_ACTION_STEP: Final[Shape] = {"action": "str", "waitSeconds": "int", "maxAttempts": "int"}
_FAILOVER_RULE: Final[Shape] = {
    "errorCodes": "str",
    "actionChain": [_ACTION_STEP],
    "action": "str",
    "threshold": "int",
    "waitSeconds": "int",
}
_FAILOVER: Final[Shape] = {
    "enabled": "bool",
    "rules": [_FAILOVER_RULE],
    "genericResourceWaitSeconds": "int",
    "modelCooldownExtraSeconds": "int",
    "modelCooldownMaxWaitSeconds": "int",
}
_UA_ENDPOINT: Final[Shape] = {"latest": "str", "lastCapturedAt": "str"}
_OUTBOUND: Final[Shape] = {"enabled": "bool", "stripRules": "strs", "initialized": "bool"}


@dataclass(frozen=True, slots=True)
class ConfigImport:
    """What config.json becomes.

    Attributes:
        channels: Rows of all four pools, in pool order (ids unset, so
            the database assigns ascending ids in that order).
        settings: The nine ``config`` settings rows.
        notes: Fix-ups applied, one line each (never a secret).
    """

    channels: tuple[ChannelsRow, ...]
    settings: tuple[SettingsRow, ...]
    notes: tuple[str, ...]

    def channel_map(self) -> ChannelMap:
        """Return pool positions of the imported channels."""
        pools: dict[str, list[ChannelRef]] = {}
        for row in self.channels:
            pools.setdefault(row.channel_type, []).append(ChannelRef(row.channel_id, row.name))
        return ChannelMap({pool: tuple(refs) for pool, refs in pools.items()})


@dataclass(slots=True)
class _Channel:
    """A channel being converted; ``node`` locates it for errors."""

    node: Node
    pool: str
    index: int
    values: dict[str, Any] = field(default_factory=dict)


def parse_config(
    data: bytes, file: str = "config.json", now: datetime | None = None
) -> ConfigImport:
    """Convert config.json bytes into rows.

    Args:
        data: The file's bytes.
        file: Name used in error messages.
        now: ``created_at``/``updated_at`` of the rows (default: now).

    Raises:
        LegacyImportError: Malformed JSON, a wrong type, a duplicate
            name or id, or a reserved id; names the JSON path.
    """
    stamp = now or datetime.now(UTC)
    root = load_json(file, data)
    root.object()
    notes: list[str] = []
    pools = {pool: _read_pool(root.field(key), pool) for key, pool in _POOL_KEYS}
    _check_names(pools)
    _assign_ids(pools, notes)
    _migrate_status(root, pools, notes)
    _migrate_websocket(root, pools, notes)
    _suspend_keyless(pools, notes)
    _resolve_composite_targets(pools, _positions(pools), notes)
    channels = tuple(
        ChannelsRow(**c.values, created_at=stamp, updated_at=stamp)
        for _, pool in _POOL_KEYS
        for c in pools[pool]
    )
    return ConfigImport(channels, _settings(root, stamp, notes), tuple(notes))


# -- channels ---------------------------------------------------------------


def _read_pool(node: Node, pool: str) -> list[_Channel]:
    return [_read_channel(item, pool, i) for i, item in enumerate(node.items())]


def _read_channel(node: Node, pool: str, index: int) -> _Channel:
    node.object()
    f = node.field
    service_type = f("serviceType").string()
    status = f("status").string().strip().lower()
    if status and status not in _STATUSES:
        f("status").fail("expected one of active, suspended, disabled")
    values: dict[str, Any] = {
        "channel_id": f("id").string().strip(),
        "channel_type": pool,
        "name": f("name").string(),
        "service_type": service_type,
        "description": f("description").string() or None,
        "website": f("website").string() or None,
        "base_url": f("baseUrl").string() or None,
        "insecure_skip_verify": f("insecureSkipVerify").boolean(),
        "status": status,
        "priority": f("priority").integer(),
        "promotion_until": f("promotionUntil").timestamp(),
        "response_header_timeout": f("responseHeaderTimeout").integer() or 120,
        "quota_type": f("quotaType").string() or None,
        "quota_limit": f("quotaLimit").number(),
        "quota_reset_at": f("quotaResetAt").timestamp(),
        "quota_reset_interval": f("quotaResetInterval").integer(),
        "quota_reset_unit": f("quotaResetUnit").string() or None,
        "quota_reset_mode": f("quotaResetMode").string() or "fixed",
        "rate_limit_rpm": f("rateLimitRpm").integer(),
        "queue_enabled": f("queueEnabled").boolean(),
        "queue_timeout": f("queueTimeout").integer() or 60,
        "key_load_balance": f("keyLoadBalance").string() or None,
        "api_keys": f("apiKeys").strings(),
        "model_mapping": f("modelMapping").string_map() or None,
        "price_multipliers": _multipliers(f("priceMultipliers")),
        "oauth_tokens": None if f("oauthTokens").absent else _shaped(f("oauthTokens"), _OAUTH),
        "quota_models": f("quotaModels").strings() or None,
        "composite_mappings": [_shaped(n, _COMPOSITE) for n in f("compositeMappings").items()]
        or None,
        "content_filter": None
        if f("contentFilter").absent
        else _shaped(f("contentFilter"), _CONTENT_FILTER),
    }
    values.update(_pool_options(node, pool, service_type))
    return _Channel(node, pool, index, values)


def _pool_options(node: Node, pool: str, service_type: str) -> dict[str, Any]:
    """Fields the Go loader keeps only for some pools and service types."""
    f = node.field
    kind = service_type.strip().lower()
    tier = f("codexServiceTierOverride").string().strip().lower()
    mode = f("responsesEncryptedReasoningMode").string().strip().lower()
    websocket = f("responsesWebSocketEnabled").boolean()
    thinking = f("continueThinkingEnabled").boolean()
    responses = pool == "responses"
    codex = responses and kind in ("responses", "openai-oauth")
    mode = "always" if mode == "on" else mode
    return {
        "codex_service_tier_override": tier if codex and tier in _TIER_OVERRIDES else "off",
        "responses_encrypted_reasoning_mode": (mode if mode in _REASONING_MODES else "auto")
        if responses and kind == "responses"
        else None,
        "responses_websocket_enabled": websocket and responses and kind != "composite",
        "continue_thinking_enabled": thinking and codex,
    }


def _multipliers(node: Node) -> dict[str, Any] | None:
    result = {key: _shaped(child, _MULTIPLIERS) for key, child in node.members()}
    return result or None


def _positions(pools: Mapping[str, list[_Channel]]) -> ChannelMap:
    return ChannelMap(
        {
            pool: tuple(ChannelRef(c.values["channel_id"], c.values["name"]) for c in channels)
            for pool, channels in pools.items()
        }
    )


def _check_names(pools: Mapping[str, list[_Channel]]) -> None:
    for channels in pools.values():
        seen: dict[str, _Channel] = {}
        for channel in channels:
            name = channel.values["name"].strip().lower()
            if not name:
                continue
            first = seen.setdefault(name, channel)
            if first is not channel:
                channel.node.field("name").fail(
                    f"duplicate channel name in this pool (also {first.node.path}.name)"
                )


def _assign_ids(pools: Mapping[str, list[_Channel]], notes: list[str]) -> None:
    seen: dict[str, _Channel] = {}
    for channels in pools.values():
        for channel in channels:
            uid = channel.values["channel_id"]
            if not uid:
                continue
            if uid.startswith(_RESERVED_ID_PREFIX):
                channel.node.field("id").fail(f"the id prefix {_RESERVED_ID_PREFIX} is reserved")
            first = seen.setdefault(uid, channel)
            if first is not channel:
                channel.node.field("id").fail(f"duplicate channel id (also {first.node.path}.id)")
    for channels in pools.values():
        for channel in channels:
            if not channel.values["channel_id"]:
                channel.values["channel_id"] = _new_id(seen)
                seen[channel.values["channel_id"]] = channel
                notes.append(f"{channel.node.path}: generated id {channel.values['channel_id']}")


def _new_id(taken: Mapping[str, object]) -> str:
    while True:
        # 8 hex characters never start with the reserved "__invalid_".
        uid = secrets.token_hex(4)
        if uid not in taken:
            return uid


def _migrate_status(root: Node, pools: Mapping[str, list[_Channel]], notes: list[str]) -> None:
    """No status in a pool: its current channel active, the rest disabled."""
    for pool, key in _CURRENT_KEYS.items():
        channels = pools[pool]
        if not channels or any(c.values["status"] for c in channels):
            continue
        current = root.field(key).integer()
        if not 0 <= current < len(channels):
            current = 0
        for channel in channels:
            channel.values["status"] = "active" if channel.index == current else "disabled"
        notes.append(f"$.{key}: {pool} channel {current} active, the others disabled")
    for channels in pools.values():
        for channel in channels:
            channel.values["status"] = channel.values["status"] or "active"


def _migrate_websocket(root: Node, pools: Mapping[str, list[_Channel]], notes: list[str]) -> None:
    """The legacy global WebSocket switch becomes per-channel flags."""
    if not root.field("responsesWebSocket").field("enabled").boolean():
        return
    for channel in pools["responses"]:
        if channel.values["service_type"].strip().lower() == "openai-oauth":
            channel.values["responses_websocket_enabled"] = True
    notes.append("$.responsesWebSocket.enabled: moved to the openai-oauth responses channels")


def _suspend_keyless(pools: Mapping[str, list[_Channel]], notes: list[str]) -> None:
    for channels in pools.values():
        for channel in channels:
            v = channel.values
            if v["status"] != "active" or _has_credentials(v):
                continue
            v["status"] = "suspended"
            notes.append(f"{channel.node.path}: no key configured, suspended")


def _has_credentials(values: Mapping[str, Any]) -> bool:
    kind = values["service_type"].strip().lower()
    if kind == "composite":
        return True
    if kind == "openai-oauth":
        return bool((values["oauth_tokens"] or {}).get("access_token"))
    return bool(values["api_keys"])


def _resolve_composite_targets(
    pools: Mapping[str, list[_Channel]], positions: ChannelMap, notes: list[str]
) -> None:
    """Legacy ``targetChannel`` indexes become ``targetChannelId``."""
    for channels in pools.values():
        for channel in channels:
            for i, mapping in enumerate(channel.values["composite_mappings"] or ()):
                if mapping.get("targetChannelId"):
                    mapping.pop("targetChannel", None)
                    continue
                where = f"{channel.node.path}.compositeMappings[{i}]"
                pool = mapping.get("targetPool") or "messages"
                uid = positions.uid_at(pool, mapping.get("targetChannel", 0))
                if uid is None:
                    notes.append(f"{where}: legacy target index matches no channel; left empty")
                    continue
                mapping["targetChannelId"] = uid
                mapping.pop("targetChannel", None)
                notes.append(f"{where}: legacy target index resolved to {uid}")


# -- settings ---------------------------------------------------------------


def _settings(root: Node, stamp: datetime, notes: list[str]) -> tuple[SettingsRow, ...]:
    f = root.field
    messages_lb = f("loadBalance").string() or _DEFAULT_LOAD_BALANCE
    values: dict[str, Any] = {
        "messages_load_balance": messages_lb,
        "responses_load_balance": f("responsesLoadBalance").string() or messages_lb,
        "gemini_load_balance": f("geminiLoadBalance").string() or _DEFAULT_LOAD_BALANCE,
        "chat_load_balance": f("chatLoadBalance").string() or _DEFAULT_LOAD_BALANCE,
        "debug_log": _with_zeros(_shaped(f("debugLog"), _DEBUG_LOG), _DEBUG_LOG),
        "failover": _failover_setting(f("failover"), notes),
        "user_agent": _user_agent(f("userAgent"), notes),
        "outbound_header_policy": _outbound(f("outboundHeaderPolicy"), notes),
        # Moved to channels by _migrate_websocket; the global stays off.
        "responses_websocket": {"enabled": False},
    }
    return tuple(
        SettingsRow(key, v if isinstance(v, str) else _compact(v), CONFIG_CATEGORY, stamp)
        for key, v in values.items()
    )


def _failover_setting(node: Node, notes: list[str]) -> dict[str, Any]:
    result = _shaped(node, _FAILOVER)
    result.setdefault("enabled", False)
    rules = result.get("rules")
    if rules is None:
        result["rules"] = None
        return result
    for i, rule in enumerate(rules):
        where = f"$.failover.rules[{i}]"
        if not rule.get("actionChain") and rule.get("action"):
            notes.append(f"{where}: legacy action {rule['action']} converted to an action chain")
            rule["actionChain"] = _legacy_chain(rule)
        for legacy in ("action", "threshold", "waitSeconds"):
            rule.pop(legacy, None)
        if rule.get("errorCodes", "").strip().lower() == "others":
            for step in rule.get("actionChain") or ():
                if step.get("action") == "failover":
                    step["action"] = "none"
                    notes.append(f"{where}: 'others' rule may not fail over; now returns the error")
    return result


def _legacy_chain(rule: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Go MigrateRule: one legacy action → an action chain."""
    action = rule["action"]
    if action == "suspend_channel":
        return [{"action": "suspend"}]
    if action == "failover_threshold":
        attempts = rule.get("threshold", 0)
        return [{"action": "retry", "maxAttempts": attempts if attempts > 0 else 1}, _failover()]
    if action == "retry_wait":
        retry = _omit_zero({"action": "retry", "waitSeconds": rule.get("waitSeconds", 0)})
        return [{**retry, "maxAttempts": 99}, _failover()]
    # failover_immediate, and Go's default for unknown legacy actions.
    return [_failover()]


def _failover() -> dict[str, Any]:
    return {"action": "failover"}


def _user_agent(node: Node, notes: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for endpoint, pattern, default in (
        ("messages", _MESSAGES_UA, DEFAULT_MESSAGES_USER_AGENT),
        ("responses", _RESPONSES_UA, DEFAULT_RESPONSES_USER_AGENT),
    ):
        values = _shaped(node.field(endpoint), _UA_ENDPOINT)
        latest = values.get("latest", "").strip()
        if not pattern.match(latest):
            if latest:
                notes.append(f"$.userAgent.{endpoint}.latest: invalid, replaced by the default")
            latest = default
        entry: dict[str, Any] = {"latest": latest}
        captured = values.get("lastCapturedAt", "").strip()
        if captured:
            entry["lastCapturedAt"] = captured
        result[endpoint] = entry
    return result


def _outbound(node: Node, notes: list[str]) -> dict[str, Any]:
    values = _shaped(node, _OUTBOUND)
    if values.get("initialized"):
        values.setdefault("enabled", False)
        values.setdefault("stripRules", [])
        return values
    if not node.absent:
        notes.append("$.outboundHeaderPolicy: not initialised, defaults applied")
    return {"enabled": True, "stripRules": list(_DEFAULT_STRIP_RULES), "initialized": True}


# -- helpers ----------------------------------------------------------------

_READERS: Final[Mapping[str, Callable[[Node], Any]]] = {
    "str": Node.string,
    "int": Node.integer,
    "num": Node.number,
    "bool": Node.boolean,
    "strs": Node.strings,
}


def _shaped(node: Node, shape: Shape) -> dict[str, Any]:
    """Return the known, non-null members of an object, type-checked."""
    node.object()
    result: dict[str, Any] = {}
    for key, kind in shape.items():
        child = node.field(key)
        if child.absent:
            continue
        if isinstance(kind, list):
            result[key] = [_shaped(item, kind[0]) for item in child.items()]
        elif isinstance(kind, Mapping):
            result[key] = _shaped(child, kind)
        else:
            result[key] = _READERS[kind](child)
    return result


def _with_zeros(values: dict[str, Any], shape: Shape) -> dict[str, Any]:
    """Fill missing scalar members with Go's zero values."""
    zeros = {"str": "", "int": 0, "num": 0.0, "bool": False}
    return {key: values.get(key, zeros.get(kind)) for key, kind in shape.items()}


def _omit_zero(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in (0, "", None)}


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
