"""Export the whole configuration, and restore it in one transaction.

The export is the reference's backup format ``{version: "1.0", createdAt,
config, pricing, aliases}`` (``config`` in the ``config.json`` shape) plus
``userAliases`` and ``ratelimit``. Secrets stay out unless asked for with
``?includeKeys=true``: then channel keys and OAuth tokens are in clear and
client keys are listed by hash. Restoring a backup without channel keys
keeps the keys of channels with the same id.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Final, TypedDict

import falcon.asgi
import msgspec

from ccbridge.admin import model, spec
from ccbridge.admin.aliases import model_alias_rows, user_alias_rows
from ccbridge.admin.channel_fields import channel_columns, new_channel_id
from ccbridge.admin.common import (
    AdminError,
    if_match,
    read_config,
    reply,
    request_actor,
)
from ccbridge.admin.keybudget import budget_columns
from ccbridge.admin.pricing import pricing_rows
from ccbridge.admin.settings_api import SECTIONS
from ccbridge.admin.validate import (
    boolean,
    choice,
    integer,
    invalid,
    text,
    text_list,
    timestamp,
)
from ccbridge.runtime import Runtime
from ccbridge.store.backups import BEFORE_RESTORE, save_before
from ccbridge.store.configdoc import (
    POOL_KEYS,
    SECTION_KEYS,
    RestorePlan,
    apply_restore,
    export,
    section_row,
)
from ccbridge.store.shapes import Backup, to_json
from ccbridge.store.snapshot import LOAD_BALANCE_STRATEGIES
from generated.dao import Daos
from generated.rows import ApiKeysRow, ChannelsRow, SettingsRow

__all__ = ("OPENAPI_PATHS", "BackupResource", "register")


class RestoreResult(msgspec.Struct):
    """Answer of a restore."""

    message: Annotated[str, msgspec.Meta(description="What was done, for a person.")]
    channels: Annotated[int, msgspec.Meta(ge=0, description="Channels now configured.")]
    success: Annotated[bool, msgspec.Meta(description="Always true.")] = True


_SECTIONS_BY_KEY: Final = {s.key: s for s in SECTIONS}
_HASH: Final = re.compile(r"^[0-9a-f]{64}$")
# Reference keys that are read and ignored on restore.
_IGNORED_CONFIG: Final = frozenset(
    {"currentUpstream", "currentResponsesUpstream", "responsesWebSocket"}
)


def _clash(field: str, message: str, code: str) -> AdminError:
    # 409 like the single-item writes (a schema cannot say "unique by name").
    return AdminError(409, f"'{field}' {message}", code, field=field)


def _restore_channels(config: dict[str, Any]) -> list[ChannelsRow]:
    rows: list[ChannelsRow] = []
    seen: set[str] = {
        str(c.get("id"))
        for key, _ in POOL_KEYS.values()
        for c in config.get(key) or []
        if isinstance(c, dict) and c.get("id")
    }
    for pool, (list_key, _) in POOL_KEYS.items():
        channels = config.get(list_key) or []
        if not isinstance(channels, list):
            raise invalid(f"config.{list_key}", "must be a list of channels")
        names: set[str] = set()
        for i, obj in enumerate(channels):
            if not isinstance(obj, dict):
                raise invalid(f"config.{list_key}[{i}]", "must be an object")
            columns = channel_columns(obj, pool, creating=True)
            if columns["name"].casefold() in names:
                raise _clash(
                    f"config.{list_key}[{i}].name",
                    "repeats another channel's name",
                    "DUPLICATE_NAME",
                )
            names.add(columns["name"].casefold())
            uid = columns.pop("channel_id", None) or new_channel_id(seen)
            seen.add(uid)
            rows.append(ChannelsRow(channel_id=uid, channel_type=pool, **columns))
    uids = [r.channel_id for r in rows]
    if len(set(uids)) != len(uids):
        raise _clash("config", "repeats a channel id", "DUPLICATE_ID")
    return rows


def _restore_settings(config: dict[str, Any]) -> list[SettingsRow]:
    out = []
    for pool, (_, lb_key) in POOL_KEYS.items():
        value = config.get(lb_key)
        if value:
            strategy = choice(f"config.{lb_key}", value, LOAD_BALANCE_STRATEGIES)
            out.append(SettingsRow(key=f"{pool}_load_balance", value=strategy, category="config"))
    for name, key in SECTION_KEYS.items():
        if config.get(name) is not None:
            section = _SECTIONS_BY_KEY[key]
            out.append(section_row(section.key, section.check(f"config.{name}", config[name])))
    return out


class _KeyLists(TypedDict):
    """The list columns of a restored key (None = unrestricted)."""

    allowed_endpoints: list[str] | None
    allowed_channels_msg: list[str] | None
    allowed_channels_resp: list[str] | None
    allowed_channels_gemini: list[str] | None
    allowed_channels_chat: list[str] | None
    allowed_models: list[str] | None


def _key_list(item: dict[str, Any], where: str, name: str) -> list[str] | None:
    return (text_list(f"{where}.{name}", item[name]) or None) if item.get(name) else None


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
        lists: _KeyLists = {
            "allowed_endpoints": _key_list(item, where, "allowedEndpoints"),
            "allowed_channels_msg": _key_list(item, where, "allowedChannelsMsg"),
            "allowed_channels_resp": _key_list(item, where, "allowedChannelsResp"),
            "allowed_channels_gemini": _key_list(item, where, "allowedChannelsGemini"),
            "allowed_channels_chat": _key_list(item, where, "allowedChannelsChat"),
            "allowed_models": _key_list(item, where, "allowedModels"),
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
                **budget_columns(item, where),
            )
        )
    hashes = [r.key_hash for r in rows]
    if len(set(hashes)) != len(hashes):
        raise _clash("apiKeys", "repeats a key", "DUPLICATE_KEY")
    return rows


def parse_backup(backup: Backup) -> RestorePlan:
    """Validate a whole backup document before anything is written.

    ``backup`` is already checked against its shape (types, ranges, unknown
    fields); this checks what a schema cannot (repeated names and ids,
    composite targets, …) and builds the rows.
    """
    doc = to_json(backup)
    config = doc["config"]
    settings = _restore_settings(config)
    if doc.get("ratelimit") is not None:
        section = _SECTIONS_BY_KEY["ratelimit"]
        settings.append(section_row(section.key, section.check("ratelimit", doc["ratelimit"])))
    pricing = doc.get("pricing")
    aliases = doc.get("aliases")
    return RestorePlan(
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


def emptied_pools(current: list[ChannelsRow], plan: RestorePlan) -> list[str]:
    """Return the pools that have channels now and none after restoring ``plan``."""
    kept = {r.channel_type for r in plan.channels}
    return [p for p in POOL_KEYS if p not in kept and any(r.channel_type == p for r in current)]


def refuse_emptied_pools(current: list[ChannelsRow], plan: RestorePlan) -> None:
    """Refuse a restore that leaves a pool that has channels with none (422)."""
    emptied = emptied_pools(current, plan)
    if emptied:
        raise AdminError(
            422,
            f"the restore would leave the {', '.join(emptied)} pool(s) without any channel; "
            "send allowEmptyPools: true (or ?allowEmptyPools=true) to restore anyway",
            "RESTORE_EMPTIES_POOL",
            field=f"config.{POOL_KEYS[emptied[0]][0]}",
            pools=emptied,
        )


def flag_param(req: falcon.asgi.Request, name: str) -> bool:
    """Return a boolean query parameter: exactly true or false once (absent = false)."""
    raw = req.params.get(name) or "false"
    if raw not in ("true", "false"):
        raise AdminError(400, f"'{name}' must be true or false", "INVALID_PARAMETER", field=name)
    return raw == "true"


class BackupResource:
    """GET|POST /api/config/backup and POST /api/config/restore."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Answer the backup document (``?includeKeys=true`` adds secrets)."""
        include = flag_param(req, "includeKeys")

        async def read(tx: Daos) -> dict[str, Any]:
            return await export(tx, include)

        doc, revision = await read_config(self.rt, read)
        reply(resp, doc, revision)
        resp.set_header("Cache-Control", "no-store")

    on_post = on_get

    async def on_post_restore(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Replace the configuration with a backup, in one transaction."""
        allow_empty = flag_param(req, "allowEmptyPools")
        backup = await model.read_body(req, Backup)
        allow_empty = allow_empty or backup.allowEmptyPools
        plan = parse_backup(backup)  # the whole document, before anything is touched
        keep = self.rt.settings.config_backups_keep
        async with self.rt.config.write(if_match(req), actor=request_actor(req)) as write:
            if not allow_empty:
                refuse_emptied_pools(await write.tx.channels.list(), plan)
            await save_before(write, BEFORE_RESTORE, keep)
            count = await apply_restore(write.tx, plan)
        reply(
            resp,
            to_json(RestoreResult(message="Configuration restored", channels=count)),
            write.revision,
        )


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], rt: Runtime) -> None:
    """Add the backup and restore routes."""
    res = BackupResource(rt)
    app.add_route("/api/config/backup", res)
    app.add_route("/api/config/restore", res, suffix="restore")


def _openapi() -> dict[str, Any]:
    tag = "backup"
    include = spec.query_param(
        "includeKeys", {"type": "boolean"}, "Add channel keys (clear) and client key hashes"
    )
    doc = model.ref(Backup)
    allow = spec.query_param(
        "allowEmptyPools",
        {"type": "boolean"},
        "Restore even if a pool that has channels would be left with none "
        "(else 422 RESTORE_EMPTIES_POOL); the body's allowEmptyPools does the same. "
        "Default false.",
    )
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
                params=[allow],
                body=doc,
                ok_schema=model.ref(RestoreResult),
            )
        },
    }


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
