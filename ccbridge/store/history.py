"""Config history: the state after every revision, what changed, and rollback.

Every config write records one ``config_history`` row in its own
transaction (see `ConfigStore.write`): the whole configuration after the
revision as a *state* (sections of items by id, secrets masked as the
channel lists show them), the structured diff from the state before, and
who wrote it. Rollback rebuilds the tables from a stored state; client
keys are credentials and are never rolled back (a rollback must not bring
a revoked key back), and masked channel secrets cannot be restored, so a
channel keeps its current keys.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from ccbridge.store.configdoc import (
    CHANNEL_COLUMNS,
    channel_object,
    key_object,
    mask_key,
    price_object,
    replace_user_aliases,
)
from generated.dao import Daos
from generated.rows import (
    ChannelsRow,
    ConfigHistoryRow,
    ModelAliasesRow,
    ModelPricingRow,
    SettingsRow,
    UserAliasesRow,
)

__all__ = (
    "SYSTEM",
    "Actor",
    "HistoryRetention",
    "RollbackResult",
    "config_state",
    "diff_states",
    "load_state",
    "prune_history",
    "record_revision",
    "rollback",
)

# Sections of a state, in the order diffs list them.
SECTIONS: Final = ("channels", "settings", "pricing", "modelAliases", "userAliases", "clientKeys")
_META_CATEGORY: Final = "config_meta"  # the revision and one-off markers: not config
_TIME_COLUMNS: Final = frozenset({"promotion_until", "quota_reset_at"})
_SECRET_FIELDS: Final = frozenset({"apiKeys", "oauthTokens"})
# Fields of a channel item that describe it in the state but are no column.
_CHANNEL_EXTRA: Final = ("pool", "index", "maskedKeys", "hasOAuthTokens")
_KEY_TIMES: Final = ("createdAt", "updatedAt", "lastUsedAt")
# Fields of a settings item that are not the setting's own ($: no JSON section uses it).
_CATEGORY: Final = "$category"
_RAW: Final = "$raw"


@dataclasses.dataclass(frozen=True, slots=True)
class Actor:
    """Who made a config change, and through what.

    Attributes:
        key_id: The admin key's id; 0 for the master key; None for
            ccbridge itself (what it learns from traffic, JSON files).
        name: The key's name ("master" for the master key).
        action: What was done, e.g. ``PUT /api/pricing``.
    """

    key_id: int | None
    name: str
    action: str


SYSTEM: Final = Actor(None, "ccbridge", "config change")


@dataclasses.dataclass(frozen=True, slots=True)
class HistoryRetention:
    """How much history to keep: the newest ``revisions``, none older than ``days``."""

    revisions: int = 500
    days: int = 90


State = dict[str, dict[str, dict[str, Any]]]


def _channel_item(row: ChannelsRow, index: int) -> dict[str, Any]:
    keys = [k for k in row.api_keys or () if isinstance(k, str)]
    return {
        "pool": row.channel_type,
        "index": index,
        **channel_object(row, include_secrets=False),
        "maskedKeys": [mask_key(k) for k in keys],
        "hasOAuthTokens": bool((row.oauth_tokens or {}).get("access_token")),
    }


def _setting_item(row: SettingsRow) -> dict[str, Any]:
    """Return a setting as an item: a JSON object's own fields, so a diff names them."""
    try:
        value = json.loads(row.value)
    except ValueError:
        value = None
    if isinstance(value, dict):
        return {_CATEGORY: row.category, **value}
    return {_CATEGORY: row.category, _RAW: True, "value": row.value}


async def config_state(tx: Daos) -> State:
    """Return the whole configuration as a state (secrets masked)."""
    channels: dict[str, dict[str, Any]] = {}
    positions: dict[str, int] = {}
    for row in await tx.channels.list(order_by="id"):
        index = positions.get(row.channel_type, 0)
        positions[row.channel_type] = index + 1
        channels[row.channel_id] = _channel_item(row, index)
    aliases: dict[str, dict[str, Any]] = {}
    for alias in await tx.model_aliases.list(order_by=("sort_order", "id")):
        entry = {"value": alias.value, "description": alias.description or ""}
        aliases.setdefault(alias.alias_type, {"aliases": []})["aliases"].append(entry)
    keys = {}
    for key in await tx.api_keys.list(order_by="id"):
        view = {k: v for k, v in key_object(key).items() if k not in _KEY_TIMES and k != "id"}
        keys[str(key.id)] = view
    return {
        "channels": channels,
        "settings": {
            r.key: _setting_item(r)
            for r in await tx.settings.list(order_by="key")
            if r.category != _META_CATEGORY
        },
        "pricing": {r.model_id: price_object(r) for r in await tx.model_pricing.list()},
        "modelAliases": aliases,
        "userAliases": {r.user_id: {"alias": r.alias} for r in await tx.user_aliases.list()},
        "clientKeys": keys,
    }


def diff_states(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return what changed from one state to another, item by item.

    Each entry is ``{section, id, op}`` plus ``name`` where the item has
    one, ``fields: {field: {old, new}}`` for a changed item and ``value``
    for an added or removed one.
    """
    out: list[dict[str, Any]] = []
    for section in SECTIONS:
        before, after = old.get(section) or {}, new.get(section) or {}
        for ident in sorted(before.keys() | after.keys()):
            a, b = before.get(ident), after.get(ident)
            if a == b:
                continue
            entry: dict[str, Any] = {"section": section, "id": ident}
            name = (b or a or {}).get("name")
            if name is not None:
                entry["name"] = name
            if a is None:
                entry.update(op="added", value=b)
            elif b is None:
                entry.update(op="removed", value=a)
            else:
                names = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
                entry.update(
                    op="changed", fields={k: {"old": a.get(k), "new": b.get(k)} for k in names}
                )
            out.append(entry)
    return out


def _pack(state: State) -> bytes:
    return gzip.compress(json.dumps(state, sort_keys=True, separators=(",", ":")).encode(), 6)


def load_state(blob: bytes) -> State:
    """Return the state stored in a history row."""
    state: State = json.loads(gzip.decompress(blob))
    return state


async def record_revision(
    tx: Daos, base: int, revision: int, actor: Actor, before: State
) -> ConfigHistoryRow:
    """Write the history row of a revision (inside its transaction).

    A base revision without a row (history begins, or a gap) gets one
    holding ``before``, so the first recorded change can be rolled back.
    """
    now = datetime.now(UTC)
    if await tx.config_history.get(base) is None:
        await tx.config_history.insert(
            ConfigHistoryRow(
                revision=base,
                created_at=now,
                actor_key_id=None,
                actor_name=SYSTEM.name,
                action="state before the history was kept",
                changes=[],
                state=_pack(before),
            )
        )
    after = await config_state(tx)
    return await tx.config_history.insert(
        ConfigHistoryRow(
            revision=revision,
            created_at=now,
            actor_key_id=actor.key_id,
            actor_name=actor.name,
            action=actor.action,
            changes=diff_states(before, after),
            state=_pack(after),
        )
    )


async def prune_history(tx: Daos, retention: HistoryRetention, now: datetime) -> None:
    """Delete revisions past the retention (the newest row always stays)."""
    await tx.config_history.prune(keep=retention.revisions, before=now - timedelta(retention.days))


@dataclasses.dataclass(slots=True)
class RollbackResult:
    """Channels whose secrets a rollback could not take from the history.

    Attributes:
        kept_keys: Channels that kept their current keys / OAuth tokens.
        disabled: Channels recreated without keys, hence disabled.
    """

    kept_keys: list[str] = dataclasses.field(default_factory=list)
    disabled: list[str] = dataclasses.field(default_factory=list)


def _channel_row(uid: str, item: Mapping[str, Any]) -> ChannelsRow:
    columns: dict[str, Any] = {}
    for name, column in CHANNEL_COLUMNS.items():
        if name in item and name not in _SECRET_FIELDS and column != "channel_id":
            value = item[name]
            if column in _TIME_COLUMNS and isinstance(value, str):
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            columns[column] = value
    return ChannelsRow(channel_id=uid, channel_type=item["pool"], **columns)


def _with_secrets(
    row: ChannelsRow, item: Mapping[str, Any], current: ChannelsRow | None, result: RollbackResult
) -> ChannelsRow:
    masked = bool(item.get("maskedKeys")) or bool(item.get("hasOAuthTokens"))
    if current is not None:
        if masked:
            result.kept_keys.append(row.channel_id)
        return dataclasses.replace(
            row, api_keys=current.api_keys, oauth_tokens=current.oauth_tokens
        )
    if masked:
        # NOTE(history): a masked key cannot serve; keep the channel's
        # settings and let the operator add keys before enabling it.
        result.disabled.append(row.channel_id)
        return dataclasses.replace(row, api_keys=[], oauth_tokens=None, status="disabled")
    return dataclasses.replace(row, api_keys=[])


async def _restore_channels(tx: Daos, items: Mapping[str, Any], result: RollbackResult) -> None:
    current = {r.channel_id: r for r in await tx.channels.list()}
    await tx.channels.clear()
    ordered = sorted(items.items(), key=lambda kv: (kv[1]["pool"], kv[1]["index"]))
    for uid, item in ordered:
        row = _with_secrets(_channel_row(uid, item), item, current.get(uid), result)
        await tx.channels.insert(row)


async def _restore_settings(tx: Daos, items: Mapping[str, Any]) -> None:
    for row in await tx.settings.list():
        if row.category != _META_CATEGORY and row.key not in items:
            await tx.settings.delete(row.key)
    for key, item in items.items():
        fields = {k: v for k, v in item.items() if k not in (_CATEGORY, _RAW)}
        value = item["value"] if item.get(_RAW) else json.dumps(fields)
        await tx.settings.upsert(SettingsRow(key=key, value=value, category=item[_CATEGORY]))


async def _restore_tables(tx: Daos, state: Mapping[str, Any]) -> None:
    await tx.model_pricing.clear()
    await tx.model_pricing.insert_many(
        [
            ModelPricingRow(
                model_id=model,
                input_price=p["inputPrice"],
                output_price=p["outputPrice"],
                cache_creation_price=p.get("cacheCreationPrice"),
                cache_read_price=p.get("cacheReadPrice"),
                description=p.get("description") or "",
                export_to_models=p.get("exportToModels", True),
            )
            for model, p in (state.get("pricing") or {}).items()
        ]
    )
    await tx.model_aliases.clear()
    await tx.model_aliases.insert_many(
        [
            ModelAliasesRow(
                alias_type=kind, value=a["value"], description=a["description"], sort_order=i
            )
            for kind, item in (state.get("modelAliases") or {}).items()
            for i, a in enumerate(item["aliases"])
        ]
    )
    await replace_user_aliases(
        tx,
        [
            UserAliasesRow(user_id=uid, alias=item["alias"])
            for uid, item in (state.get("userAliases") or {}).items()
        ],
    )


async def rollback(tx: Daos, state: Mapping[str, Any]) -> RollbackResult:
    """Make the configuration that of a stored state (client keys stay).

    A channel whose keys were masked keeps its current keys; one that no
    longer exists is recreated disabled, without keys.
    """
    result = RollbackResult()
    await _restore_channels(tx, state.get("channels") or {}, result)
    await _restore_settings(tx, state.get("settings") or {})
    await _restore_tables(tx, state)
    return result
