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

from typing import Annotated, Any, Final, Literal, get_args

import falcon.asgi
import msgspec

from ccbridge.admin import model, spec
from ccbridge.admin.common import AdminError, if_match, read_config, reply, request_actor
from ccbridge.admin.logquery import int_param
from ccbridge.runtime import Runtime
from ccbridge.store.backups import BEFORE_ROLLBACK, save_before
from ccbridge.store.configdoc import iso
from ccbridge.store.history import SECTIONS, diff_states, load_state, rollback
from ccbridge.store.shapes import to_json
from generated.dao import Daos
from generated.rows import ConfigHistoryPageResult, ConfigHistoryRow

__all__ = (
    "OPENAPI_PATHS",
    "Change",
    "HistoryDetail",
    "HistoryDiff",
    "HistoryEntry",
    "HistoryPage",
    "HistoryResource",
    "Rollback",
    "RollbackResource",
    "register",
)

_MAX_LIMIT: Final = 200
_MAX_REVISION: Final = 2**62
_SECTION = Literal["channels", "settings", "pricing", "modelAliases", "userAliases", "clientKeys"]
assert set(get_args(_SECTION)) == set(SECTIONS)  # one list of sections, checked at import


class FieldChange(msgspec.Struct):
    """One field of an item, before and after."""

    old: Annotated[Any, msgspec.Meta(description="Value before (null: absent).")]
    new: Annotated[Any, msgspec.Meta(description="Value after (null: absent).")]


class Change(msgspec.Struct, omit_defaults=True):
    """One item that changed: a channel, setting, price, alias list, user alias or key."""

    section: Annotated[_SECTION, msgspec.Meta(description="Where the item lives.")]
    id: Annotated[str, msgspec.Meta(description="Channel id, setting key, model, …")]
    op: Annotated[
        Literal["added", "removed", "changed"], msgspec.Meta(description="What happened to it.")
    ]
    name: Annotated[str | None, msgspec.Meta(description="Channel or key name.")] = None
    value: Annotated[
        dict[str, Any] | None,
        msgspec.Meta(description="The whole item (added, removed); secrets masked."),
    ] = None
    fields: Annotated[
        dict[str, FieldChange] | None, msgspec.Meta(description="Changed fields (changed).")
    ] = None


class HistoryActor(msgspec.Struct):
    """Who wrote a revision."""

    keyId: Annotated[
        int | None, msgspec.Meta(description="Admin key id; 0 = master key; null = ccbridge.")
    ]
    name: Annotated[str, msgspec.Meta(description="Key name, master or ccbridge.")]


class HistoryEntry(msgspec.Struct):
    """One config revision."""

    revision: Annotated[int, msgspec.Meta(description="The config revision.")]
    createdAt: Annotated[str | None, msgspec.Meta(description="When it was written (RFC 3339).")]
    actor: Annotated[HistoryActor, msgspec.Meta(description="Who wrote it.")]
    action: Annotated[str, msgspec.Meta(description="The route that wrote, or what ccbridge did.")]
    changes: Annotated[list[Change], msgspec.Meta(description="What changed, item by item.")]


class HistoryDetail(HistoryEntry):
    """One config revision with the whole config after it."""

    state: Annotated[
        dict[str, Any], msgspec.Meta(description="Section -> id -> item; secrets masked.")
    ]


class HistoryPage(msgspec.Struct):
    """Revisions, newest first."""

    items: Annotated[list[HistoryEntry], msgspec.Meta(description="Revisions, newest first.")]
    total: Annotated[int, msgspec.Meta(description="Revisions kept.")]
    limit: Annotated[int, msgspec.Meta(description="Revisions asked for.")]
    offset: Annotated[int, msgspec.Meta(description="Revisions skipped.")]


class HistoryDiff(msgspec.Struct):
    """What changed from one revision to another."""

    from_: Annotated[int, msgspec.Meta(description="The older revision.")] = msgspec.field(
        name="from"
    )
    to: Annotated[int, msgspec.Meta(description="The newer revision.")] = 0
    changes: Annotated[list[Change], msgspec.Meta(description="What changed, item by item.")] = (
        msgspec.field(default_factory=list)
    )


class Rollback(msgspec.Struct):
    """Answer of a rollback."""

    message: Annotated[str, msgspec.Meta(description="What was done, for a person.")]
    rolledBackTo: Annotated[int, msgspec.Meta(description="The revision whose config is back.")]
    revision: Annotated[int, msgspec.Meta(description="The new revision.")]
    backup: Annotated[str, msgspec.Meta(description="Server-side backup of the replaced config.")]
    keptKeys: Annotated[
        list[str], msgspec.Meta(description="Channels that kept their current keys.")
    ]
    disabledChannels: Annotated[
        list[str], msgspec.Meta(description="Channels recreated disabled and without keys.")
    ]
    success: Annotated[bool, msgspec.Meta(description="Always true.")] = True


def _revision(value: str) -> int:
    digits = value[1:] if value.startswith("-") else value
    if not (digits.isascii() and digits.isdigit()) or int(digits) > _MAX_REVISION:
        raise AdminError(400, f"revision {value!r} is not a revision number", "INVALID_REVISION")
    return int(value)


def _entry(row: ConfigHistoryRow | ConfigHistoryPageResult) -> HistoryEntry:
    return HistoryEntry(
        revision=row.revision or 0,
        createdAt=iso(row.created_at),
        actor=HistoryActor(row.actor_key_id, row.actor_name or ""),
        action=row.action or "",
        changes=model.convert(row.changes, list[Change]),
    )


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

        async def read(tx: Daos) -> Any:
            rows = await tx.config_history.page(max_rows=limit, skip=offset)
            page = HistoryPage(
                items=[_entry(r) for r in rows],
                total=await tx.config_history.count(),
                limit=limit,
                offset=offset,
            )
            return to_json(page)

        reply(resp, *await read_config(self.rt, read))

    async def on_get_item(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, revision: str
    ) -> None:
        """Return one revision with the whole config after it (masked)."""
        number = _revision(revision)

        async def read(tx: Daos) -> Any:
            row = await _row(tx, number)
            entry = msgspec.structs.asdict(_entry(row))
            return to_json(HistoryDetail(**entry, state=load_state(row.state)))

        reply(resp, *await read_config(self.rt, read))

    async def on_get_diff(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Return what changed from revision ``from`` to ``to``.

        ``to`` defaults to the newest revision; without ``from``, the answer
        is what ``to`` itself changed (its stored diff, from ``to - 1``).
        """
        old, new = req.get_param("from") or None, req.get_param("to") or None  # blank: unset
        first, last = (_revision(v) if v is not None else None for v in (old, new))

        async def read(tx: Daos) -> Any:
            b = await _row(tx, last)
            if first is None:
                changes = b.changes
                start = (b.revision or 0) - 1
            else:
                a = await _row(tx, first)
                changes = diff_states(load_state(a.state), load_state(b.state))
                start = a.revision or 0
            diff = HistoryDiff(start, b.revision or 0, model.convert(changes, list[Change]))
            return to_json(diff)

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
        answer = Rollback(
            message=f"Configuration of revision {row.revision} restored",
            rolledBackTo=row.revision,
            revision=write.revision,
            backup=backup.name,
            keptKeys=result.kept_keys,
            disabledChannels=result.disabled,
        )
        reply(resp, to_json(answer), write.revision)


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], rt: Runtime) -> None:
    """Add the history and rollback routes."""
    history = HistoryResource(rt)
    app.add_route("/api/config/history", history)
    app.add_route("/api/config/history/diff", history, suffix="diff")
    app.add_route("/api/config/history/{revision}", history, suffix="item")
    app.add_route("/api/config/rollback/{revision}", RollbackResource(rt))


def _openapi() -> dict[str, Any]:
    tag = "history"
    revision = spec.path_param(
        "revision", spec.INT, "A config revision; -N counts back from the newest", example=-1
    )
    page = [
        spec.query_param("limit", {"type": "integer", "minimum": 1, "maximum": _MAX_LIMIT}),
        spec.query_param("offset", {"type": "integer", "minimum": 0}),
    ]
    between = [
        spec.query_param(
            "from", spec.INT, "Older revision (-N: the Nth before the newest; default: to - 1)"
        ),
        spec.query_param("to", spec.INT, "Newer revision (default: the newest)"),
    ]
    return {
        "/api/config/history": {
            "get": spec.operation(
                "Config revisions, newest first",
                tag,
                etag=True,
                params=page,
                ok_schema=model.ref(HistoryPage),
            )
        },
        "/api/config/history/diff": {
            "get": spec.operation(
                "What changed between two revisions",
                tag,
                etag=True,
                params=between,
                ok_schema=model.ref(HistoryDiff),
            )
        },
        "/api/config/history/{revision}": {
            "get": spec.operation(
                "One revision, with the whole config after it (secrets masked)",
                tag,
                etag=True,
                params=[revision],
                ok_schema=model.ref(HistoryDetail),
            )
        },
        "/api/config/rollback/{revision}": {
            "post": spec.operation(
                "Restore the config of a revision as a new revision",
                tag,
                etag=True,
                params=[revision],
                ok_schema=model.ref(Rollback),
            )
        },
    }


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
