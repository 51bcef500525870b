"""Channel objects of the admin API: body fields in, masked view out.

Bodies use the reference's camelCase channel object (spec §2.1); each field
maps to one ``channels`` column, JSON columns keep camelCase objects as the
loader expects. Keys and OAuth tokens never leave in clear: the view shows
``maskedKeys`` (first 8 + ``...`` + last 4).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Final

from ccbridge.admin.channel_views import ChannelView, MaskedKey
from ccbridge.admin.common import AdminError
from ccbridge.admin.validate import (
    Field,
    boolean,
    check_fields,
    choice,
    integer,
    invalid,
    number,
    text,
    text_list,
    text_map,
    timestamp,
    url,
)
from ccbridge.routing.scheduler import SERVED_SERVICE_TYPES
from ccbridge.store.configdoc import CHANNEL_COLUMNS, mask_key
from ccbridge.store.shapes import to_json
from ccbridge.store.snapshot import CHANNEL_STATUSES, LOAD_BALANCE_STRATEGIES, POOLS
from generated.rows import ChannelsRow

__all__ = (
    "SERVICE_TYPES",
    "channel_columns",
    "channel_view",
    "mask_key",
    "new_channel_id",
    "validate_keys",
)

SERVICE_TYPES: Final = frozenset(
    {
        "claude",
        "openai",
        "openaiold",
        "openai_chat",
        "gemini",
        "responses",
        "openai-oauth",
        "composite",
    }
)
_ID_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
# Fields a client may send back from a list response; they are ignored.
READ_ONLY: Final = frozenset(
    {"index", "apiKeyCount", "maskedKeys", "latency", "hasOAuthTokens", "served"}
)
_MULTIPLIER_KEYS: Final = (
    "inputMultiplier",
    "outputMultiplier",
    "cacheCreationMultiplier",
    "cacheReadMultiplier",
)
_OAUTH_KEYS: Final = ("access_token", "account_id", "id_token", "refresh_token", "last_refresh")


def new_channel_id(taken: set[str]) -> str:
    """Return 8 random hex characters not in ``taken``.

    All-digit ids are skipped: a numeric path segment means an index.
    """
    while True:
        uid = secrets.token_hex(4)
        if uid not in taken and not uid.isdigit():
            return uid


def channel_id(name: str, value: Any) -> str:
    """Return a client-chosen stable id (letters, digits, _ and -)."""
    uid = text(name, value, max_len=64, required=True)
    if uid.startswith("__invalid_") or not set(uid) <= _ID_CHARS:
        raise invalid(name, "must use letters, digits, '_' or '-' and not start with __invalid_")
    return uid


def validate_keys(name: str, value: Any) -> list[str]:
    """Return upstream API keys: non-empty, no spaces, no repeats."""
    keys = text_list(name, value, max_items=500, max_len=4096, unique=True)
    for key in keys:
        if not (key.isascii() and key.isprintable()) or " " in key:
            raise invalid(name, "must hold printable ASCII keys without spaces")
    return keys


def _multipliers(name: str, value: Any) -> dict[str, dict[str, float]]:
    if not isinstance(value, dict) or len(value) > 500:
        raise invalid(name, "must be an object of model -> multipliers")
    out = {}
    for model, entry in value.items():
        model = text(f"{name} key", model, max_len=200, required=True)
        where = f"{name}.{model}"
        if not isinstance(entry, dict):
            raise invalid(where, "must be an object")
        out[model] = check_fields(entry, dict.fromkeys(_MULTIPLIER_KEYS, _multiplier))
    return out


def _multiplier(name: str, value: Any) -> float:
    return number(name, value, 0.0, 1000.0)


def _oauth(name: str, value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(name, "must be an object")
    fields = {k: partial(text, max_len=20_000) for k in _OAUTH_KEYS}
    return check_fields(value, fields)


def _composite_target(name: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise invalid(name, "must be an object")
    return check_fields(value, {"pool": partial(choice, options=POOLS), "channelId": _req_text})


def _req_text(name: str, value: Any) -> str:
    return text(name, value, max_len=200, required=True)


def _composite(name: str, value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or len(value) > 50:
        raise invalid(name, "must be a list of at most 50 mappings")
    fields: dict[str, Callable[[str, Any], Any]] = {
        "pattern": _req_text,
        "targetChannelId": partial(text, max_len=200),
        "targetPool": partial(choice, options=("messages", "responses")),
        "failoverChain": partial(text_list, max_items=50, max_len=200),
        "failoverTargets": partial(_list_of, item=_composite_target, max_items=50),
        "targetModel": partial(text, max_len=200),
        "targetChannel": partial(integer, lo=0, hi=100_000),
    }
    out = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise invalid(f"{name}[{i}]", "must be an object")
        out.append(check_fields(entry, fields))
    return out


def _list_of(
    name: str, value: Any, *, item: Callable[[str, Any], Any], max_items: int
) -> list[Any]:
    if not isinstance(value, list) or len(value) > max_items:
        raise invalid(name, f"must be a list of at most {max_items} entries")
    return [item(f"{name}[{i}]", v) for i, v in enumerate(value)]


def _filter_rule(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(name, "must be an object")
    fields: dict[str, Field] = {
        "keyword": _req_text,
        "statusCode": partial(integer, lo=100, hi=599),
    }
    return check_fields(value, fields)


def _content_filter(name: str, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(name, "must be an object")
    fields: dict[str, Callable[[str, Any], Any]] = {
        "enabled": boolean,
        "rules": partial(_list_of, item=_filter_rule, max_items=500),
        "keywords": partial(text_list, max_items=500, max_len=200),
        "statusCode": partial(integer, lo=100, hi=599),
    }
    return check_fields(value, fields)


def _reasoning_mode(name: str, value: Any) -> str:
    mode = choice(name, value, ("", "auto", "always", "off", "on"))
    return "always" if mode == "on" else mode


# camelCase field -> validator (its column: CHANNEL_COLUMNS)
_CHECKS: Final[dict[str, Callable[[str, Any], Any]]] = {
    "id": channel_id,
    "name": partial(text, max_len=200, required=True),
    "serviceType": partial(choice, options=SERVICE_TYPES),
    "baseUrl": url,
    "apiKeys": validate_keys,
    "description": partial(text, max_len=2000),
    "website": url,
    "insecureSkipVerify": boolean,
    "modelMapping": text_map,
    "responseHeaderTimeout": partial(integer, lo=1, hi=3600),
    "priority": partial(integer, lo=0, hi=1_000_000),
    "status": partial(choice, options=CHANNEL_STATUSES | {""}),
    "promotionUntil": timestamp,
    "priceMultipliers": _multipliers,
    "oauthTokens": _oauth,
    "codexServiceTierOverride": partial(
        choice, options=("", "off", "force_priority", "force_default")
    ),
    "responsesEncryptedReasoningMode": _reasoning_mode,
    "responsesWebSocketEnabled": boolean,
    "continueThinkingEnabled": boolean,
    "quotaType": partial(choice, options=("", "requests", "credit")),
    "quotaLimit": partial(number, lo=0.0, hi=1e12),
    "quotaResetAt": timestamp,
    "quotaResetInterval": partial(integer, lo=0, hi=100_000),
    "quotaResetUnit": partial(choice, options=("", "hours", "days", "weeks", "months")),
    "quotaModels": partial(text_list, max_items=500, max_len=200),
    "quotaResetMode": partial(choice, options=("", "fixed", "rolling")),
    "rateLimitRpm": partial(integer, lo=0, hi=1_000_000),
    "queueEnabled": boolean,
    "queueTimeout": partial(integer, lo=0, hi=86_400),
    "keyLoadBalance": partial(choice, options=LOAD_BALANCE_STRATEGIES | {""}),
    "compositeMappings": _composite,
    "contentFilter": _content_filter,
}
assert _CHECKS.keys() == CHANNEL_COLUMNS.keys()  # one validator per stored field


def channel_columns(data: Mapping[str, Any], pool: str, *, creating: bool) -> dict[str, Any]:
    """Return ``channels`` column values for a create or update body.

    Args:
        data: The JSON body (camelCase channel object, partial on update).
        pool: The pool the channel belongs to.
        creating: Require ``name`` and ``serviceType``.

    Raises:
        AdminError: 422 naming the first bad, unknown or missing field.
    """
    body = {k: v for k, v in data.items() if k not in READ_ONLY}
    validators = {name: _nullable(check) for name, check in _CHECKS.items()}
    values = check_fields(body, validators)
    if creating:
        for required in ("name", "serviceType"):
            if values.get(required) in (None, ""):
                raise invalid(required, "is required")
    service = values.get("serviceType")
    if service == "composite" and pool != "messages":
        raise invalid("serviceType", "composite channels exist only in the messages pool")
    if service == "openai-oauth" and pool not in ("messages", "responses"):
        raise invalid("serviceType", "openai-oauth channels exist only in messages or responses")
    return {CHANNEL_COLUMNS[name]: value for name, value in values.items() if value is not None}


def _nullable(check: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    def run(name: str, value: Any) -> Any:
        return None if value is None else check(name, value)

    return run


def check_composite(row: ChannelsRow, pools: Mapping[str, Sequence[ChannelsRow]]) -> None:
    """Refuse a composite channel whose mappings point nowhere useful."""
    if row.service_type != "composite":
        return
    mappings = row.composite_mappings or []
    if row.api_keys:
        raise invalid("apiKeys", "a composite channel routes only; it has no keys")
    for i, mapping in enumerate(mappings):
        target_pool = mapping.get("targetPool") or "messages"
        target = mapping.get("targetChannelId") or ""
        by_id = {r.channel_id: r for r in pools.get(target_pool, ())}
        if target and target not in by_id:
            raise AdminError(
                422,
                f"compositeMappings[{i}] targets unknown channel {target!r}",
                "INVALID_FIELD",
                field="compositeMappings",
            )
        if target and by_id[target].service_type == "composite":
            raise invalid("compositeMappings", "must not target another composite channel")


def channel_view(row: ChannelsRow, index: int) -> dict[str, Any]:
    """Return the admin view of a channel: every field, keys masked."""
    keys = [k for k in row.api_keys or () if isinstance(k, str)]
    view = ChannelView(
        index=index,
        id=row.channel_id,
        name=row.name,
        serviceType=row.service_type,
        baseUrl=row.base_url or "",
        apiKeyCount=len(keys),
        maskedKeys=[MaskedKey(index=i, masked=mask_key(k)) for i, k in enumerate(keys)],
        description=row.description or "",
        website=row.website or "",
        insecureSkipVerify=bool(row.insecure_skip_verify),
        responseHeaderTimeout=row.response_header_timeout or 120,
        modelMapping=row.model_mapping or {},
        priceMultipliers=row.price_multipliers or {},
        codexServiceTierOverride=row.codex_service_tier_override or "",
        responsesEncryptedReasoningMode=row.responses_encrypted_reasoning_mode or "",
        responsesWebSocketEnabled=bool(row.responses_websocket_enabled),
        continueThinkingEnabled=bool(row.continue_thinking_enabled),
        hasOAuthTokens=bool((row.oauth_tokens or {}).get("access_token")),
        # Whether this pool can serve the channel's type: the scheduler skips the others.
        served=row.service_type in SERVED_SERVICE_TYPES.get(row.channel_type, frozenset()),
        latency=None,
        status=row.status or "active",
        priority=row.priority or index,
        promotionUntil=row.promotion_until,
        quotaType=row.quota_type or "",
        quotaLimit=row.quota_limit or 0.0,
        quotaResetAt=row.quota_reset_at,
        quotaResetInterval=row.quota_reset_interval or 0,
        quotaResetUnit=row.quota_reset_unit or "",
        quotaModels=row.quota_models or [],
        quotaResetMode=row.quota_reset_mode or "fixed",
        rateLimitRpm=row.rate_limit_rpm or 0,
        queueEnabled=bool(row.queue_enabled),
        queueTimeout=row.queue_timeout or 60,
        keyLoadBalance=row.key_load_balance or "",
        compositeMappings=row.composite_mappings or [],
        contentFilter=row.content_filter,
    )
    shown: dict[str, Any] = to_json(view)
    return shown
