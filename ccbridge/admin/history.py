"""Config history and rollback: /api/config/history and /api/config/rollback.

Every config revision has a history row (store/history.py): who wrote it,
through which route, what changed item by item, and the whole config
after it with secrets masked. A rollback writes that config back as a
new revision (If-Match checked like every write), after an automatic
server-side backup of the config it replaces; every instance reloads it
as any other revision.

A channel whose keys were masked in the history keeps its current keys.
One that no longer exists is recreated *disabled* and without keys rather
than refused: refusing would make every revision before a channel was
deleted unreachable, and undoing a deletion is what a rollback is for;
disabled, the scheduler never routes to it until the operator adds keys.

A negative revision counts back from the newest row: ``rollback/-1``
undoes the last change without knowing its number.
"""

from __future__ import annotations

from typing import Any, Final

import falcon.asgi

from ccbridge.admin import spec
from ccbridge.admin.common import AdminError, if_match, read_config, reply, request_actor
from ccbridge.admin.logquery import int_param
from ccbridge.runtime import Runtime
from ccbridge.store.backups import BEFORE_ROLLBACK, save_before
from ccbridge.store.configdoc import iso
from ccbridge.store.history import diff_states, load_state, rollback
from generated.dao import Daos
from generated.rows import ConfigHistoryPageResult, ConfigHistoryRow

__all__ = ("OPENAPI_PATHS", "HistoryResource", "RollbackResource", "register")

_MAX_LIMIT: Final = 200
_MAX_REVISION: Final = 2**62


def _revision(value: str) -> int:
    digits = value[1:] if value.startswith("-") else value
    if not (digits.isascii() and digits.isdigit()) or int(digits) > _MAX_REVISION:
        raise AdminError(400, f"revision {value!r} is not a revision number", "INVALID_REVISION")
    return int(value)


def _entry(row: ConfigHistoryRow | ConfigHistoryPageResult) -> dict[str, Any]:
    return {
        "revision": row.revision,
        "createdAt": iso(row.created_at),
        "actor": {"keyId": row.actor_key_id, "name": row.actor_name},
        "action": row.action,
        "changes": row.changes,
    }


def _not_found(revision: int) -> AdminError:
    return AdminError(
        404,
        f"revision {revision} is not in the config history",
        "REVISION_NOT_FOUND",
        revision=revision,
    )


async def _row(tx: Daos, revision: int | None) -> ConfigHistoryRow:
    """Return a revision's row: None is the newest, -N the Nth before it."""
    number = revision
    if revision is None or revision < 0:
        back = await tx.config_history.page(max_rows=1, skip=-(revision or 0))
        number = back[0].revision if back else None
    row = await tx.config_history.get(number) if number is not None else None
    if row is None:
        raise _not_found(revision if revision is not None else 0)
    return row


class HistoryResource:
    """GET /api/config/history, /{revision} and /diff."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """List revisions, newest first (limit, offset)."""
        limit = int_param(req, "limit", low=1, high=_MAX_LIMIT) or 20
        offset = int_param(req, "offset", low=0) or 0

        async def read(tx: Daos) -> dict[str, Any]:
            rows = await tx.config_history.page(max_rows=limit, skip=offset)
            return {
                "items": [_entry(r) for r in rows],
                "total": await tx.config_history.count(),
                "limit": limit,
                "offset": offset,
            }

        reply(resp, *await read_config(self.rt, read))

    async def on_get_item(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, revision: str
    ) -> None:
        """Return one revision with the whole config after it (masked)."""
        number = _revision(revision)

        async def read(tx: Daos) -> dict[str, Any]:
            row = await _row(tx, number)
            return {**_entry(row), "state": load_state(row.state)}

        reply(resp, *await read_config(self.rt, read))

    async def on_get_diff(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Return what changed from revision ``from`` to ``to`` (default: the newest)."""
        old, new = req.get_param("from"), req.get_param("to")
        if old is None:
            raise AdminError(400, "the 'from' revision is required", "INVALID_PARAMETER")
        first, last = _revision(old), (_revision(new) if new is not None else None)

        async def read(tx: Daos) -> dict[str, Any]:
            a = await _row(tx, first)
            b = await _row(tx, last)
            changes = diff_states(load_state(a.state), load_state(b.state))
            return {"from": a.revision, "to": b.revision, "changes": changes}

        reply(resp, *await read_config(self.rt, read))


class RollbackResource:
    """POST /api/config/rollback/{revision}."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_post(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, revision: str
    ) -> None:
        """Write the config of an earlier revision back as a new revision."""
        number = _revision(revision)
        keep = self.rt.settings.config_backups_keep
        async with self.rt.config.write(if_match(req), actor=request_actor(req)) as write:
            row = await _row(write.tx, number)
            backup = await save_before(write, BEFORE_ROLLBACK, keep)
            result = await rollback(write.tx, load_state(row.state))
        reply(
            resp,
            {
                "success": True,
                "message": f"Configuration of revision {row.revision} restored",
                "rolledBackTo": row.revision,
                "revision": write.revision,
                "backup": backup.name,
                "keptKeys": result.kept_keys,
                "disabledChannels": result.disabled,
            },
            write.revision,
        )


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], rt: Runtime) -> None:
    """Add the history and rollback routes."""
    history = HistoryResource(rt)
    app.add_route("/api/config/history", history)
    app.add_route("/api/config/history/diff", history, suffix="diff")
    app.add_route("/api/config/history/{revision}", history, suffix="item")
    app.add_route("/api/config/rollback/{revision}", RollbackResource(rt))


def _openapi() -> dict[str, Any]:
    tag = "history"
    change = spec.obj(
        {
            "section": {
                "type": "string",
                "enum": [
                    "channels",
                    "settings",
                    "pricing",
                    "modelAliases",
                    "userAliases",
                    "clientKeys",
                ],
            },
            "id": spec.STR,
            "name": spec.STR,
            "op": {"type": "string", "enum": ["added", "removed", "changed"]},
            "value": spec.ANY_OBJECT,
            "fields": {
                "type": "object",
                "description": "field -> {old, new}",
                "additionalProperties": spec.obj({"old": {}, "new": {}}, ["old", "new"]),
            },
        },
        ["section", "id", "op"],
    )
    changes = spec.array(change)
    entry_props = {
        "revision": spec.INT,
        "createdAt": spec.DATETIME,
        "actor": spec.obj(
            {"keyId": spec.nullable(spec.INT), "name": spec.STR},
            ["keyId", "name"],
        ),
        "action": spec.STR,
        "changes": changes,
    }
    entry = spec.obj(entry_props, list(entry_props))
    detail = spec.obj({**entry_props, "state": spec.ANY_OBJECT}, [*entry_props, "state"])
    revision = spec.path_param(
        "revision", spec.INT, "A config revision; -N counts back from the newest", example=-1
    )
    page = [
        spec.query_param("limit", {"type": "integer", "minimum": 1, "maximum": _MAX_LIMIT}),
        spec.query_param("offset", {"type": "integer", "minimum": 0}),
    ]
    between = [
        {
            **spec.query_param("from", spec.INT, "Older revision (-N: the Nth before the newest)"),
            "required": True,
        },
        spec.query_param("to", spec.INT, "Newer revision (default: the newest)"),
    ]
    rolled = spec.obj(
        {
            "success": spec.BOOL,
            "message": spec.STR,
            "rolledBackTo": spec.INT,
            "revision": spec.INT,
            "backup": spec.STR,
            "keptKeys": spec.array(spec.STR),
            "disabledChannels": spec.array(spec.STR),
        },
        ["success", "rolledBackTo", "revision", "backup", "keptKeys", "disabledChannels"],
    )
    return {
        "/api/config/history": {
            "get": spec.operation(
                "Config revisions, newest first",
                tag,
                etag=True,
                params=page,
                ok_schema=spec.obj(
                    {
                        "items": spec.array(entry),
                        "total": spec.INT,
                        "limit": spec.INT,
                        "offset": spec.INT,
                    },
                    ["items", "total", "limit", "offset"],
                ),
            )
        },
        "/api/config/history/diff": {
            "get": spec.operation(
                "What changed between two revisions",
                tag,
                etag=True,
                params=between,
                ok_schema=spec.obj(
                    {"from": spec.INT, "to": spec.INT, "changes": changes},
                    ["from", "to", "changes"],
                ),
            )
        },
        "/api/config/history/{revision}": {
            "get": spec.operation(
                "One revision, with the whole config after it (secrets masked)",
                tag,
                etag=True,
                params=[revision],
                ok_schema=detail,
            )
        },
        "/api/config/rollback/{revision}": {
            "post": spec.operation(
                "Restore the config of a revision as a new revision",
                tag,
                etag=True,
                params=[revision],
                ok_schema=rolled,
            )
        },
    }


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
