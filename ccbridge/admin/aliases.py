"""Model aliases (admin-UI model suggestions) and user aliases (client names).

Model aliases use the reference's ``model-aliases.json`` shape
(``{messagesModels: [{value, description}], responsesModels, geminiModels}``);
user aliases map a client id to a unique display name. Both are part of the
configuration, so every change is a revision-checked config write.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final

import falcon.asgi
import msgspec

from ccbridge.admin import spec
from ccbridge.admin.common import AdminError, read_config, reply, write_config
from ccbridge.admin.model import read_body, ref
from ccbridge.admin.validate import check_fields, invalid, text
from ccbridge.runtime import Runtime
from ccbridge.store.configdoc import (
    ALIAS_LISTS,
    read_model_aliases,
    read_user_aliases,
    replace_model_aliases,
)
from ccbridge.store.shapes import Alias, ModelAliases, UserAliases, to_json
from generated.dao import Daos
from generated.rows import ModelAliasesRow, UserAliasesRow

__all__ = (
    "DEFAULT_MODEL_ALIASES",
    "OPENAPI_PATHS",
    "model_alias_rows",
    "register",
    "user_alias_rows",
)

DEFAULT_MODEL_ALIASES: Final[dict[str, list[dict[str, str]]]] = {
    "messagesModels": [
        {"value": "opus", "description": "Claude Opus"},
        {"value": "sonnet", "description": "Claude Sonnet"},
        {"value": "haiku", "description": "Claude Haiku"},
    ],
    "responsesModels": [
        {"value": "gpt-5.1-codex", "description": "GPT-5.1 Codex"},
        {"value": "gpt-5.1-codex-mini", "description": "GPT-5.1 Codex Mini"},
        {"value": "gpt-5.1", "description": "GPT-5.1"},
    ],
    "geminiModels": [
        {"value": "gemini-3-pro", "description": "Gemini 3 Pro"},
        {"value": "gemini-3-flash", "description": "Gemini 3 Flash"},
    ],
}
_MAX_ENTRIES: Final = 1000


def model_alias_rows(data: dict[str, Any]) -> list[ModelAliasesRow]:
    """Return the rows of a model-aliases body (422 when invalid)."""
    check_fields(data, dict.fromkeys(ALIAS_LISTS, lambda n, v: v))
    rows = []
    for name, kind in ALIAS_LISTS.items():
        entries = data.get(name) or []
        if not isinstance(entries, list) or len(entries) > _MAX_ENTRIES:
            raise invalid(name, f"must be a list of at most {_MAX_ENTRIES} entries")
        for order, entry in enumerate(entries):
            where = f"{name}[{order}]"
            if not isinstance(entry, dict):
                raise invalid(where, "must be an object")
            fields = {
                "value": lambda n, v: text(n, v, max_len=200, required=True),
                "description": lambda n, v: text(n, v or "", max_len=500),
            }
            values = check_fields(entry, fields)
            if "value" not in values:
                raise invalid(f"{where}.value", "is required")
            rows.append(
                ModelAliasesRow(
                    alias_type=kind,
                    value=values["value"],
                    description=values.get("description", ""),
                    sort_order=order,
                )
            )
    return rows


def user_alias_rows(data: Any, name: str = "aliases") -> list[UserAliasesRow]:
    """Return rows of a ``{userId: alias}`` object; aliases must be unique."""
    if not isinstance(data, dict) or len(data) > 100_000:
        raise invalid(name, "must be an object of userId -> alias")
    rows = [
        UserAliasesRow(user_id=_user_id(f"{name} key", k), alias=_alias(f"{name}.{k}", v))
        for k, v in data.items()
    ]
    aliases = [r.alias for r in rows]
    if len(set(aliases)) != len(aliases):
        raise AdminError(409, "Two users cannot share an alias", "DUPLICATE_ALIAS")
    return rows


def _user_id(name: str, value: Any) -> str:
    return text(name, value, max_len=500, required=True)


def _alias(name: str, value: Any) -> str:
    return text(name, value, max_len=200, required=True)


class ModelAliasesResource:
    """/api/model-aliases routes."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Return the model suggestions."""
        reply(resp, *await read_config(self.rt, read_model_aliases))

    async def on_put(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Replace the model suggestions."""
        await self._replace(
            req,
            resp,
            model_alias_rows(to_json(await read_body(req, ModelAliases))),
            "Model aliases updated",
        )

    async def on_post_reset(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Restore the default suggestions."""
        await self._replace(
            req, resp, model_alias_rows(DEFAULT_MODEL_ALIASES), "Model aliases reset to defaults"
        )

    async def _replace(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        rows: list[ModelAliasesRow],
        message: str,
    ) -> None:
        async def change(tx: Daos) -> dict[str, Any]:
            await replace_model_aliases(tx, rows)
            return await read_model_aliases(tx)

        config, revision = await write_config(req, self.rt, change)
        reply(resp, {"message": message, "config": config}, revision)


class UserAliasesResource:
    """/api/aliases routes."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Return every user alias."""
        aliases, revision = await read_config(self.rt, read_user_aliases)
        reply(resp, {"aliases": aliases}, revision)

    async def on_put_item(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, user_id: str
    ) -> None:
        """Set the alias of one client id (``{alias}``)."""
        uid = _user_id("userId", user_id)
        alias = _alias("alias", (await read_body(req, AliasBody)).alias)

        async def change(tx: Daos) -> None:
            taken = await tx.user_aliases.list(where={"alias": alias})
            if any(r.user_id != uid for r in taken):
                raise AdminError(409, f"Alias {alias!r} is taken", "DUPLICATE_ALIAS")
            now = datetime.now(UTC)
            old = await tx.user_aliases.get(uid)
            created = old.created_at if old is not None else now
            await tx.user_aliases.upsert(
                UserAliasesRow(user_id=uid, alias=alias, created_at=created, updated_at=now)
            )

        _, revision = await write_config(req, self.rt, change)
        reply(resp, {"success": True, "userId": uid, "alias": alias}, revision)

    async def on_delete_item(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, user_id: str
    ) -> None:
        """Remove the alias of one client id."""
        uid = _user_id("userId", user_id)

        async def change(tx: Daos) -> None:
            if not await tx.user_aliases.delete(uid):
                raise AdminError(404, f"No alias for {uid!r}", "ALIAS_NOT_FOUND")

        _, revision = await write_config(req, self.rt, change)
        reply(resp, {"success": True, "userId": uid}, revision)

    async def on_post_import(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Add or change many aliases (``{aliases: {userId: alias}}``)."""
        rows = user_alias_rows((await read_body(req, AliasImport)).aliases)

        async def change(tx: Daos) -> int:
            current = {r.user_id: r for r in await tx.user_aliases.list()}
            incoming = {r.user_id for r in rows}
            owners = {r.alias: r.user_id for r in current.values() if r.user_id not in incoming}
            for row in rows:
                if row.alias in owners:
                    raise AdminError(409, f"Alias {row.alias!r} is taken", "DUPLICATE_ALIAS")
            # Delete first so aliases can move between the imported users.
            for row in rows:
                await tx.user_aliases.delete(row.user_id)
            await tx.user_aliases.insert_many(rows)
            return len(rows)

        count, revision = await write_config(req, self.rt, change)
        reply(resp, {"success": True, "imported": count}, revision)


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], rt: Runtime) -> None:
    """Add the model-alias and user-alias routes."""
    models = ModelAliasesResource(rt)
    app.add_route("/api/model-aliases", models)
    app.add_route("/api/model-aliases/reset", models, suffix="reset")
    users = UserAliasesResource(rt)
    app.add_route("/api/aliases", users)
    app.add_route("/api/aliases/import", users, suffix="import")
    app.add_route("/api/aliases/{user_id}", users, suffix="item")


class AliasBody(msgspec.Struct, forbid_unknown_fields=True):
    """The alias of one client id."""

    alias: Annotated[Alias, msgspec.Meta(description="Display name, unique across users.")]


class AliasImport(msgspec.Struct, forbid_unknown_fields=True):
    """Many aliases at once."""

    aliases: Annotated[UserAliases, msgspec.Meta(description="Client user id -> display name.")]


def _openapi() -> dict[str, Any]:
    tag = "aliases"
    config = spec.obj({"message": spec.STR, "config": ref(ModelAliases)}, ["config"])
    saved = spec.obj({"success": spec.BOOL}, ["success"], additional=True)
    user = spec.path_param("user_id", spec.STR, "Client id")
    return {
        "/api/model-aliases": {
            "get": spec.operation(
                "Get model suggestions", tag, etag=True, ok_schema=ref(ModelAliases)
            ),
            "put": spec.operation(
                "Replace model suggestions",
                tag,
                etag=True,
                body=ref(ModelAliases),
                ok_schema=config,
            ),
        },
        "/api/model-aliases/reset": {
            "post": spec.operation("Restore default suggestions", tag, etag=True, ok_schema=config)
        },
        "/api/aliases": {
            "get": spec.operation(
                "List user aliases",
                tag,
                etag=True,
                ok_schema=ref(AliasImport),
            )
        },
        "/api/aliases/import": {
            "post": spec.operation(
                "Import user aliases",
                tag,
                etag=True,
                ok_schema=saved,
                body=ref(AliasImport),
            )
        },
        "/api/aliases/{user_id}": {
            "put": spec.operation(
                "Set a user's alias",
                tag,
                etag=True,
                params=[user],
                ok_schema=saved,
                body=ref(AliasBody),
            ),
            "delete": spec.operation(
                "Remove a user's alias", tag, etag=True, params=[user], ok_schema=saved
            ),
        },
    }


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
