"""Server-side backups: /api/config/backups and POST /api/config/restore/{name}.

The reference keeps these as files in one instance's ``.config/backups``;
here they are rows of the shared database (store/backups.py), so every
instance lists and restores the same ones. A restore replaces the config
in one revision-checked write, after an automatic backup of the config it
replaces (as do ``POST /api/config/restore`` and a rollback).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, get_args

import falcon.asgi
import msgspec

from ccbridge.admin import model, spec
from ccbridge.admin.backup import flag_param, parse_backup, refuse_emptied_pools
from ccbridge.admin.common import (
    AdminError,
    admin_key,
    if_match,
    reply,
    request_actor,
)
from ccbridge.admin.model import read_body
from ccbridge.admin.validate import invalid
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
from ccbridge.store.shapes import Backup, to_json
from generated.dao import Daos
from generated.rows import ConfigBackupsListingResult, ConfigBackupsRow

__all__ = (
    "OPENAPI_PATHS",
    "BackupDeleted",
    "BackupInfo",
    "BackupList",
    "BackupRestored",
    "BackupsResource",
    "NewBackup",
    "register",
)

_REASON = Literal["manual", "before_restore", "before_rollback"]
assert get_args(_REASON) == REASONS  # one list of reasons, checked at import


class BackupInfo(msgspec.Struct, kw_only=True):
    """One server-side backup (never its contents)."""

    filename: Annotated[str, msgspec.Meta(description="The backup's name.")]
    createdAt: Annotated[str | None, msgspec.Meta(description="When it was taken (RFC 3339).")]
    size: Annotated[int, msgspec.Meta(description="Bytes of the backup document.")]
    reason: Annotated[_REASON, msgspec.Meta(description="manual, or why it was taken.")]
    revision: Annotated[int, msgspec.Meta(description="The config revision backed up.")]
    createdBy: Annotated[str, msgspec.Meta(description="Name of the key that caused it.")]


class BackupCreated(BackupInfo, kw_only=True):
    """Answer of storing a backup."""

    message: Annotated[str, msgspec.Meta(description="What was done, for a person.")]


class BackupList(msgspec.Struct):
    """Server-side backups, newest first."""

    backups: Annotated[list[BackupInfo], msgspec.Meta(description="Newest first.")]


class NewBackup(msgspec.Struct, forbid_unknown_fields=True):
    """An optional name for a new backup (``.json`` is added)."""

    name: Annotated[
        Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,115}$")] | None,
        msgspec.Meta(
            description="Letters, digits, _ - and . (default: manual_backup_<time>.json)."
        ),
    ] = None


class BackupDeleted(msgspec.Struct):
    """Answer of deleting a backup."""

    message: Annotated[str, msgspec.Meta(description="What was done, for a person.")]
    filename: Annotated[str, msgspec.Meta(description="The deleted backup's name.")]


class BackupRestored(msgspec.Struct):
    """Answer of restoring a backup by name."""

    message: Annotated[str, msgspec.Meta(description="What was done, for a person.")]
    filename: Annotated[str, msgspec.Meta(description="The restored backup's name.")]
    restoredAt: Annotated[str | None, msgspec.Meta(description="When (RFC 3339).")]
    revision: Annotated[int, msgspec.Meta(description="The new config revision.")]
    channels: Annotated[int, msgspec.Meta(description="Channels now configured.")]
    backup: Annotated[str, msgspec.Meta(description="Backup of the replaced config.")]


def _info(row: ConfigBackupsRow | ConfigBackupsListingResult) -> dict[str, Any]:
    return {
        "filename": row.name or "",
        "createdAt": iso(row.created_at),
        "size": row.size or 0,
        "reason": row.reason,
        "revision": row.revision or 0,
        "createdBy": row.actor_name or "",
    }


def _new_name(body: NewBackup) -> str | None:
    if body.name is None:
        return None
    stem = body.name.removesuffix(".json")
    name = body.name if stem else f"{body.name}.json"
    name = name if name.endswith(".json") else f"{name}.json"
    if not NAME_PATTERN.match(name):
        raise invalid("name", "may hold only letters, digits, '_', '-' and '.' (120 at most)")
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
        reason = req.get_param("reason") or None  # blank: every reason
        if reason is not None and reason not in REASONS:
            raise AdminError(
                400, f"reason must be one of {', '.join(REASONS)}", "INVALID_PARAMETER"
            )
        rows = await self.rt.db.daos.config_backups.listing()
        infos = [BackupInfo(**_info(r)) for r in rows if reason in (None, r.reason)]
        reply(resp, to_json(BackupList(infos)))

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Store a backup of the config as it is now (``{"name"}`` optional)."""
        name = _new_name(await read_body(req, NewBackup) if req.content_length else NewBackup())
        async with self.rt.db.transaction() as tx:
            if name is not None and await tx.config_backups.get(name) is not None:
                raise AdminError(409, f"backup {name!r} exists", "BACKUP_EXISTS")
            current = await tx.settings.get("config_revision")
            revision = int(current.value) if current is not None else 0
            row = await save_backup(tx, MANUAL, revision, admin_key(req).name, 0, name=name)
        made = BackupCreated(**_info(row), message="Backup created successfully")
        reply(resp, to_json(made), status=201)

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
        reply(resp, to_json(BackupDeleted("Backup deleted successfully", name)))

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
        restored = BackupRestored(
            message="Backup restored successfully",
            filename=name,
            restoredAt=iso(datetime.now(UTC)),
            revision=write.revision,
            channels=channels,
            backup=backup.name,
        )
        reply(resp, to_json(restored), write.revision)


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], rt: Runtime) -> None:
    """Add the server-side backup routes."""
    res = BackupsResource(rt)
    app.add_route("/api/config/backups", res)
    app.add_route("/api/config/backups/{name}", res, suffix="item")
    app.add_route("/api/config/restore/{name}", res, suffix="restore")


def _openapi() -> dict[str, Any]:
    tag = "backup"
    name = spec.path_param(
        "name",
        {"type": "string", "pattern": NAME_PATTERN.pattern},
        "Backup name",
        example="manual_backup_2026-01-01_000000.json",
    )
    reason = spec.query_param("reason", {"type": "string", "enum": list(REASONS)})
    return {
        "/api/config/backups": {
            "get": spec.operation(
                "Server-side backups, newest first",
                tag,
                params=[reason],
                ok_schema=model.ref(BackupList),
            ),
            "post": spec.operation(
                "Store a server-side backup of the config",
                tag,
                body=model.ref(NewBackup),
                body_required=False,
                ok=201,
                ok_schema=model.ref(BackupCreated),
            ),
        },
        "/api/config/backups/{name}": {
            "get": spec.operation(
                "One server-side backup (channel keys in clear)",
                tag,
                params=[name],
                ok_schema=model.ref(Backup),
            ),
            "delete": spec.operation(
                "Delete a server-side backup",
                tag,
                params=[name],
                ok_schema=model.ref(BackupDeleted),
            ),
        },
        "/api/config/restore/{name}": {
            "post": spec.operation(
                "Replace the config with a server-side backup (backs up the current one first)",
                tag,
                etag=True,
                params=[name, spec.query_param("allowEmptyPools", {"type": "boolean"})],
                ok_schema=model.ref(BackupRestored),
            )
        },
    }


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
