"""Export the whole configuration, and restore it in one transaction.

The export is the reference's backup format ``{version: "1.0", createdAt,
config, pricing, aliases}`` (``config`` in the ``config.json`` shape) plus
``userAliases`` and ``ratelimit``. Secrets stay out unless asked for with
``?includeKeys=true``: then channel keys and OAuth tokens are in clear and
client keys are listed by hash. Restoring a backup without channel keys
keeps the keys of channels with the same id.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from typing import Any, Final

import falcon.asgi

from ccbridge.admin import spec
from ccbridge.admin.aliases import (
    model_alias_rows,
    read_model_aliases,
    read_user_aliases,
    replace_model_aliases,
    replace_user_aliases,
    user_alias_rows,
)
from ccbridge.admin.channel_fields import channel_columns, channel_object, new_channel_id
from ccbridge.admin.common import AdminError, body_object, read_config, reply, write_config
from ccbridge.admin.keys import key_view
from ccbridge.admin.pricing import PRICING_SCHEMA, pricing_rows, read_pricing, replace_pricing
from ccbridge.admin.settings_api import SECTIONS, read_section, section_row
from ccbridge.admin.validate import (
    boolean,
    check_fields,
    choice,
    integer,
    invalid,
    text,
    text_list,
    timestamp,
)
from ccbridge.runtime import Runtime
from ccbridge.store.snapshot import LOAD_BALANCE_STRATEGIES
from generated.dao import Daos
from generated.rows import ApiKeysRow, ChannelsRow, SettingsRow

__all__ = ("OPENAPI_PATHS", "BackupResource", "register")

VERSION: Final = "1.0"
# pool -> (channel list key, load-balance key) in config.json
_POOL_KEYS: Final = {
    "messages": ("upstream", "loadBalance"),
    "responses": ("responsesUpstream", "responsesLoadBalance"),
    "gemini": ("geminiUpstream", "geminiLoadBalance"),
    "chat": ("chatUpstream", "chatLoadBalance"),
}
# config.json key -> settings section (by settings key)
_SECTION_KEYS: Final = {
    "debugLog": "debug_log",
    "failover": "failover",
    "userAgent": "user_agent",
    "outboundHeaderPolicy": "outbound_header_policy",
}
_SECTIONS_BY_KEY: Final = {s.key: s for s in SECTIONS}
_HASH: Final = re.compile(r"^[0-9a-f]{64}$")
# Reference keys that are read and ignored on restore.
_IGNORED_CONFIG: Final = frozenset(
    {"currentUpstream", "currentResponsesUpstream", "responsesWebSocket"}
)


@dataclasses.dataclass(slots=True)
class _Restore:
    """A validated backup, ready to write."""

    channels: list[ChannelsRow]
    settings: list[SettingsRow]
    pricing: tuple[list[Any], str] | None
    model_aliases: list[Any] | None
    user_aliases: list[Any] | None
    keys: list[ApiKeysRow] | None


async def export(tx: Daos, include_keys: bool) -> dict[str, Any]:
    """Return the backup document of the current configuration."""
    config: dict[str, Any] = {}
    rows = await tx.channels.list(order_by="id")
    for pool, (list_key, lb_key) in _POOL_KEYS.items():
        config[list_key] = [
            channel_object(r, include_secrets=include_keys) for r in rows if r.channel_type == pool
        ]
        lb = await tx.settings.get(f"{pool}_load_balance")
        config[lb_key] = lb.value if lb is not None and lb.value else "failover"
    for name, key in _SECTION_KEYS.items():
        config[name] = await read_section(tx, _SECTIONS_BY_KEY[key])
    doc: dict[str, Any] = {
        "version": VERSION,
        "createdAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "config": config,
        "pricing": await read_pricing(tx),
        "aliases": await read_model_aliases(tx),
        "userAliases": await read_user_aliases(tx),
        "ratelimit": await read_section(tx, _SECTIONS_BY_KEY["ratelimit"]),
    }
    if include_keys:
        doc["apiKeys"] = [
            {**key_view(k), "keyHash": k.key_hash} for k in await tx.api_keys.list(order_by="id")
        ]
    return doc


def _restore_channels(config: dict[str, Any]) -> list[ChannelsRow]:
    rows: list[ChannelsRow] = []
    seen: set[str] = {
        str(c.get("id"))
        for key, _ in _POOL_KEYS.values()
        for c in config.get(key) or []
        if isinstance(c, dict) and c.get("id")
    }
    for pool, (list_key, _) in _POOL_KEYS.items():
        channels = config.get(list_key) or []
        if not isinstance(channels, list):
            raise invalid(f"config.{list_key}", "must be a list of channels")
        names: set[str] = set()
        for i, obj in enumerate(channels):
            if not isinstance(obj, dict):
                raise invalid(f"config.{list_key}[{i}]", "must be an object")
            columns = channel_columns(obj, pool, creating=True)
            if columns["name"].casefold() in names:
                raise invalid(f"config.{list_key}[{i}].name", "repeats another channel's name")
            names.add(columns["name"].casefold())
            uid = columns.pop("channel_id", None) or new_channel_id(seen)
            seen.add(uid)
            rows.append(ChannelsRow(channel_id=uid, channel_type=pool, **columns))
    uids = [r.channel_id for r in rows]
    if len(set(uids)) != len(uids):
        raise invalid("config", "repeats a channel id")
    return rows


def _restore_settings(config: dict[str, Any]) -> list[SettingsRow]:
    out = []
    for pool, (_, lb_key) in _POOL_KEYS.items():
        value = config.get(lb_key)
        if value:
            strategy = choice(f"config.{lb_key}", value, LOAD_BALANCE_STRATEGIES)
            out.append(SettingsRow(key=f"{pool}_load_balance", value=strategy, category="config"))
    for name, key in _SECTION_KEYS.items():
        if config.get(name) is not None:
            section = _SECTIONS_BY_KEY[key]
            out.append(section_row(section, section.check(f"config.{name}", config[name])))
    return out


def _restore_keys(items: Any) -> list[ApiKeysRow]:
    if not isinstance(items, list):
        raise invalid("apiKeys", "must be a list")
    rows = []
    for i, item in enumerate(items):
        where = f"apiKeys[{i}]"
        if not isinstance(item, dict):
            raise invalid(where, "must be an object")
        key_hash = text(f"{where}.keyHash", item.get("keyHash"), max_len=64)
        if not _HASH.match(key_hash):
            raise invalid(f"{where}.keyHash", "must be a SHA-256 hex digest")
        lists = {
            col: (text_list(f"{where}.{name}", item[name]) or None) if item.get(name) else None
            for name, col in (
                ("allowedEndpoints", "allowed_endpoints"),
                ("allowedChannelsMsg", "allowed_channels_msg"),
                ("allowedChannelsResp", "allowed_channels_resp"),
                ("allowedChannelsGemini", "allowed_channels_gemini"),
                ("allowedChannelsChat", "allowed_channels_chat"),
                ("allowedModels", "allowed_models"),
            )
        }
        rows.append(
            ApiKeysRow(
                name=text(f"{where}.name", item.get("name"), max_len=200, required=True),
                key_hash=key_hash,
                key_prefix=text(f"{where}.keyPrefix", item.get("keyPrefix") or "", max_len=20),
                description=text(f"{where}.description", item.get("description") or ""),
                status=choice(
                    f"{where}.status",
                    item.get("status") or "active",
                    ("active", "disabled", "revoked"),
                ),
                is_admin=boolean(f"{where}.isAdmin", item.get("isAdmin", False)),
                rate_limit_rpm=integer(
                    f"{where}.rateLimitRpm", item.get("rateLimitRpm") or 0, 0, 10_000
                ),
                created_at=timestamp(f"{where}.createdAt", item.get("createdAt"))
                or datetime.now(UTC),
                last_used_at=timestamp(f"{where}.lastUsedAt", item.get("lastUsedAt")),
                **lists,
            )
        )
    hashes = [r.key_hash for r in rows]
    if len(set(hashes)) != len(hashes):
        raise invalid("apiKeys", "repeats a key")
    return rows


def parse_backup(doc: dict[str, Any]) -> _Restore:
    """Validate a whole backup document before anything is written."""
    allowed = (
        "version",
        "createdAt",
        "config",
        "pricing",
        "aliases",
        "userAliases",
        "ratelimit",
        "apiKeys",
    )
    check_fields(doc, {k: (lambda n, v: v) for k in allowed})
    config = doc.get("config")
    if not isinstance(config, dict):
        raise invalid("config", "is required and must be an object")
    known = {k for k, _ in _POOL_KEYS.values()} | {v for _, v in _POOL_KEYS.values()}
    extra = set(config) - known - set(_SECTION_KEYS) - _IGNORED_CONFIG
    if extra:
        raise AdminError(
            422,
            f"unknown config field(s): {', '.join(sorted(extra))}",
            "UNKNOWN_FIELD",
            fields=sorted(extra),
        )
    settings = _restore_settings(config)
    if doc.get("ratelimit") is not None:
        section = _SECTIONS_BY_KEY["ratelimit"]
        settings.append(section_row(section, section.check("ratelimit", doc["ratelimit"])))
    pricing = doc.get("pricing")
    aliases = doc.get("aliases")
    if pricing is not None and not isinstance(pricing, dict):
        raise invalid("pricing", "must be an object")
    if aliases is not None and not isinstance(aliases, dict):
        raise invalid("aliases", "must be an object")
    return _Restore(
        channels=_restore_channels(config),
        settings=settings,
        pricing=pricing_rows(pricing) if pricing is not None else None,
        model_aliases=model_alias_rows(aliases) if aliases is not None else None,
        user_aliases=(
            user_alias_rows(doc["userAliases"], "userAliases")
            if doc.get("userAliases") is not None
            else None
        ),
        keys=_restore_keys(doc["apiKeys"]) if doc.get("apiKeys") is not None else None,
    )


async def apply_restore(tx: Daos, plan: _Restore) -> int:
    """Replace the configuration with a validated backup; return channels."""
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


class BackupResource:
    """GET|POST /api/config/backup and POST /api/config/restore."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Answer the backup document (``?includeKeys=true`` adds secrets)."""
        raw = (req.get_param("includeKeys") or "false").lower()
        if raw not in ("true", "false", "1", "0"):
            raise AdminError(400, "'includeKeys' must be true or false", "INVALID_PARAM")
        include = raw in ("true", "1")

        async def read(tx: Daos) -> dict[str, Any]:
            return await export(tx, include)

        doc, revision = await read_config(self.rt, read)
        reply(resp, doc, revision)
        resp.set_header("Cache-Control", "no-store")

    on_post = on_get

    async def on_post_restore(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Replace the configuration with a backup, in one transaction."""
        plan = parse_backup(await body_object(req))

        async def change(tx: Daos) -> int:
            return await apply_restore(tx, plan)

        count, revision = await write_config(req, self.rt, change)
        reply(
            resp,
            {"success": True, "message": "Configuration restored", "channels": count},
            revision,
        )


def register(app: falcon.asgi.App, rt: Runtime) -> None:
    """Add the backup and restore routes."""
    res = BackupResource(rt)
    app.add_route("/api/config/backup", res)
    app.add_route("/api/config/restore", res, suffix="restore")


_BACKUP_SCHEMA: Final = spec.obj(
    {
        "version": spec.STR,
        "createdAt": spec.STR,
        "config": spec.obj(
            {
                **{k: spec.array(spec.ANY_OBJECT) for k, _ in _POOL_KEYS.values()},
                **{
                    v: {"type": "string", "enum": sorted(LOAD_BALANCE_STRATEGIES)}
                    for _, v in _POOL_KEYS.values()
                },
                **{k: spec.ANY_OBJECT for k in _SECTION_KEYS},
            },
            additional=True,
        ),
        "pricing": PRICING_SCHEMA,
        "aliases": spec.ANY_OBJECT,
        "userAliases": {"type": "object", "additionalProperties": spec.STR},
        "ratelimit": spec.ANY_OBJECT,
        "apiKeys": spec.array(spec.ANY_OBJECT),
    },
    ["config"],
)


def _openapi() -> dict[str, Any]:
    tag = "backup"
    include = spec.query_param(
        "includeKeys", {"type": "boolean"}, "Add channel keys (clear) and client key hashes"
    )
    doc = {**_BACKUP_SCHEMA, "required": ["version", "createdAt", "config", "pricing", "aliases"]}
    return {
        "/api/config/backup": {
            "get": spec.operation(
                "Export the configuration", tag, etag=True, params=[include], ok_schema=doc
            ),
            "post": spec.operation(
                "Export the configuration", tag, etag=True, params=[include], ok_schema=doc
            ),
        },
        "/api/config/restore": {
            "post": spec.operation(
                "Replace the configuration with a backup",
                tag,
                etag=True,
                body=_BACKUP_SCHEMA,
                ok_schema=spec.obj(
                    {"success": spec.BOOL, "message": spec.STR, "channels": spec.INT}, ["success"]
                ),
            )
        },
    }


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
