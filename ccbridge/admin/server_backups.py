"""Server-side backups: /api/config/backups and POST /api/config/restore/{name}.

The reference keeps these as files in one instance's ``.config/backups``;
here they are rows of the shared database (store/backups.py), so every
instance lists and restores the same ones. A restore replaces the config
in one revision-checked write, after an automatic backup of the config it
replaces (as do ``POST /api/config/restore`` and a rollback).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import falcon.asgi

from ccbridge.admin import model, spec
from ccbridge.admin.backup import flag_param, parse_backup, refuse_emptied_pools
from ccbridge.admin.common import (
    AdminError,
    admin_key,
    body_object,
    if_match,
    reply,
    request_actor,
)
from ccbridge.admin.validate import check_fields, invalid, text
from ccbridge.runtime import Runtime
from ccbridge.store.backups import (
    BEFORE_RESTORE,
    MANUAL,
    NAME_PATTERN,
    REASONS,
    backup_document,
    save_backup,
    save_before,
)
from ccbridge.store.configdoc import apply_restore, iso
from ccbridge.store.shapes import Backup
from generated.dao import Daos
from generated.rows import ConfigBackupsListingResult, ConfigBackupsRow

__all__ = ("OPENAPI_PATHS", "BackupsResource", "register")


def _info(row: ConfigBackupsRow | ConfigBackupsListingResult) -> dict[str, Any]:
    return {
        "filename": row.name,
        "createdAt": iso(row.created_at),
        "size": row.size,
        "reason": row.reason,
        "revision": row.revision,
        "createdBy": row.actor_name,
    }


def _new_name(field: str, value: Any) -> str:
    name = text(field, value, max_len=120, required=True)
    name = name if name.endswith(".json") else f"{name}.json"
    if not NAME_PATTERN.match(name):
        raise invalid(field, "may hold only letters, digits, '_', '-' and '.'")
    return name


def _name(value: str) -> str:
    if not NAME_PATTERN.match(value):
        raise AdminError(400, f"{value!r} is not a backup name", "INVALID_BACKUP_NAME")
    return value


async def _find(tx: Daos, name: str) -> ConfigBackupsRow:
    row = await tx.config_backups.get(_name(name))
    if row is None:
        raise AdminError(404, f"backup {name!r} not found", "BACKUP_NOT_FOUND")
    return row


class BackupsResource:
    """List, create, read, delete and restore server-side backups."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """List the backups, newest first (never their contents); ``?reason=`` filters."""
        reason = req.get_param("reason")
        if reason is not None and reason not in REASONS:
            raise AdminError(
                400, f"reason must be one of {', '.join(REASONS)}", "INVALID_PARAMETER"
            )
        rows = await self.rt.db.daos.config_backups.listing()
        reply(resp, {"backups": [_info(r) for r in rows if reason in (None, r.reason)]})

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Store a backup of the config as it is now (``{"name"}`` optional)."""
        raw = await body_object(req) if req.content_length else {}
        body = check_fields(raw, {"name": _new_name})
        async with self.rt.db.transaction() as tx:
            if "name" in body and await tx.config_backups.get(body["name"]) is not None:
                raise AdminError(409, f"backup {body['name']!r} exists", "BACKUP_EXISTS")
            current = await tx.settings.get("config_revision")
            revision = int(current.value) if current is not None else 0
            row = await save_backup(
                tx, MANUAL, revision, admin_key(req).name, 0, name=body.get("name")
            )
        reply(resp, {"message": "Backup created successfully", **_info(row)}, status=201)

    async def on_get_item(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, name: str
    ) -> None:
        """Return one backup's document (channel keys in clear)."""
        async with self.rt.db.transaction(readonly=True) as tx:
            row = await _find(tx, name)
        reply(resp, backup_document(row))
        resp.set_header("Cache-Control", "no-store")

    async def on_delete_item(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, name: str
    ) -> None:
        """Delete one backup."""
        async with self.rt.db.transaction() as tx:
            await _find(tx, name)
            await tx.config_backups.delete(name)
        reply(resp, {"message": "Backup deleted successfully", "filename": name})

    async def on_post_restore(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, name: str
    ) -> None:
        """Replace the config with a backup, after backing up the current one."""
        keep = self.rt.settings.config_backups_keep
        allow_empty = flag_param(req, "allowEmptyPools")
        async with self.rt.config.write(if_match(req), actor=request_actor(req)) as write:
            stored = backup_document(await _find(write.tx, name))
            plan = parse_backup(model.convert(stored, Backup))
            if not allow_empty:
                refuse_emptied_pools(await write.tx.channels.list(), plan)
            backup = await save_before(write, BEFORE_RESTORE, keep)
            channels = await apply_restore(write.tx, plan)
        reply(
            resp,
            {
                "message": "Backup restored successfully",
                "filename": name,
                "restoredAt": iso(datetime.now(UTC)),
                "revision": write.revision,
                "channels": channels,
                "backup": backup.name,
            },
            write.revision,
        )


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], rt: Runtime) -> None:
    """Add the server-side backup routes."""
    res = BackupsResource(rt)
    app.add_route("/api/config/backups", res)
    app.add_route("/api/config/backups/{name}", res, suffix="item")
    app.add_route("/api/config/restore/{name}", res, suffix="restore")


_INFO_PROPS: Final = {
    "filename": spec.STR,
    "createdAt": spec.DATETIME,
    "size": spec.INT,
    "reason": {"type": "string", "enum": list(REASONS)},
    "revision": spec.INT,
    "createdBy": spec.STR,
}


def _openapi() -> dict[str, Any]:
    tag = "backup"
    info = spec.obj(_INFO_PROPS, list(_INFO_PROPS))
    name = spec.path_param(
        "name",
        {"type": "string", "pattern": NAME_PATTERN.pattern},
        "Backup name",
        example="manual_backup_2026-01-01_000000.json",
    )
    return {
        "/api/config/backups": {
            "get": spec.operation(
                "Server-side backups, newest first",
                tag,
                params=[spec.query_param("reason", {"type": "string", "enum": list(REASONS)})],
                ok_schema=spec.obj({"backups": spec.array(info)}, ["backups"]),
            ),
            "post": spec.operation(
                "Store a server-side backup of the config",
                tag,
                body=spec.obj({"name": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,115}$"}}),
                body_required=False,
                ok=201,
                ok_schema=spec.obj({"message": spec.STR, **_INFO_PROPS}, ["message", *_INFO_PROPS]),
            ),
        },
        "/api/config/backups/{name}": {
            "get": spec.operation(
                "One server-side backup (channel keys in clear)",
                tag,
                params=[name],
                ok_schema=spec.ANY_OBJECT,
            ),
            "delete": spec.operation(
                "Delete a server-side backup",
                tag,
                params=[name],
                ok_schema=spec.obj(
                    {"message": spec.STR, "filename": spec.STR}, ["message", "filename"]
                ),
            ),
        },
        "/api/config/restore/{name}": {
            "post": spec.operation(
                "Replace the config with a server-side backup (backs up the current one first)",
                tag,
                etag=True,
                params=[name],
                ok_schema=spec.obj(
                    {
                        "message": spec.STR,
                        "filename": spec.STR,
                        "restoredAt": spec.DATETIME,
                        "revision": spec.INT,
                        "channels": spec.INT,
                        "backup": spec.STR,
                    },
                    ["message", "filename", "revision", "channels", "backup"],
                ),
            )
        },
    }


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
