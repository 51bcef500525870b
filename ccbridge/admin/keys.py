"""Client API keys: list, create, edit, rotate, enable, disable, revoke.

A key is ``sk-`` + 48 letters and digits; only its SHA-256 hash is stored
and the plain key is shown once, in the create or rotate response. Keys are
part of the config snapshot, so every change is a config write: a revoked
or disabled key stops on every instance at its next reload. Revocation is
terminal.
"""

from __future__ import annotations

import dataclasses
import secrets
import string
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any, Final, Literal, get_args

import falcon.asgi
import msgspec

from ccbridge.access.auth import hash_key
from ccbridge.admin import spec
from ccbridge.admin.common import AdminError, read_config, reply, write_config
from ccbridge.admin.key_views import (
    ClientKeyList,
    ClientKeyView,
    ClientKeyWithSecret,
    KeyDeleted,
    KeyListQuery,
    KeyStatus,
    key_view,
    with_secret,
)
from ccbridge.admin.keybudget import BUDGET_FIELDS, CLEARABLE, read_spend
from ccbridge.admin.model import query_params, read_body, ref
from ccbridge.admin.validate import boolean, check_fields, choice, integer, invalid, text, text_list
from ccbridge.runtime import Runtime
from ccbridge.store.shapes import (
    NO_NUL,
    BudgetPeriod,
    Text200,
    Timestamp,
    TokenBudget,
    UsdBudget,
    to_json,
)
from generated.dao import Daos
from generated.rows import ApiKeysRow

__all__ = ("KEY_STATUSES", "OPENAPI_PATHS", "KeysResource", "new_key", "register")

Endpoint = Literal["messages", "responses", "gemini", "chat", "messages_current_channel"]
KEY_STATUSES: Final = get_args(KeyStatus)
ENDPOINTS: Final = get_args(Endpoint)
_ALPHABET: Final = string.ascii_letters + string.digits
_MAX_LIMIT: Final = 1000


def new_key() -> str:
    """Return a new client key: ``sk-`` + 48 letters and digits."""
    return "sk-" + "".join(secrets.choice(_ALPHABET) for _ in range(48))


def _endpoints(name: str, value: Any) -> list[str]:
    items = text_list(name, value, max_items=10, max_len=50)
    for item in items:
        if item not in ENDPOINTS:
            raise invalid(name, f"must only name {', '.join(ENDPOINTS)}")
    return items


_ids = partial(text_list, max_items=1000, max_len=200)

# camelCase field -> (column, validator); empty lists are stored as NULL.
_FIELDS: Final[dict[str, tuple[str, Callable[[str, Any], Any]]]] = {
    "name": ("name", partial(text, max_len=200, required=True)),
    "description": ("description", partial(text, max_len=2000)),
    "isAdmin": ("is_admin", boolean),
    "rateLimitRpm": ("rate_limit_rpm", partial(integer, lo=0, hi=10_000)),
    "allowedEndpoints": ("allowed_endpoints", _endpoints),
    "allowedChannelsMsg": ("allowed_channels_msg", _ids),
    "allowedChannelsResp": ("allowed_channels_resp", _ids),
    "allowedChannelsGemini": ("allowed_channels_gemini", _ids),
    "allowedChannelsChat": ("allowed_channels_chat", _ids),
    "allowedModels": ("allowed_models", partial(text_list, max_items=1000, max_len=200)),
    **BUDGET_FIELDS,
}
_LISTS: Final = frozenset(c for c, _ in _FIELDS.values() if c.startswith("allowed_"))
_CLEARABLE: Final = _LISTS | CLEARABLE  # a null or empty value stores NULL


_Ids = Annotated[list[Text200], msgspec.Meta(max_length=1000)]
_ALL = "null or [] = all"
_PERIODS = "daily, weekly (from Monday), monthly or total (never resets, the default)"


class _KeyFields(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    description: Annotated[
        Annotated[str, msgspec.Meta(max_length=2000, pattern=NO_NUL)] | None | msgspec.UnsetType,
        msgspec.Meta(description="Free text. Default ''."),
    ] = msgspec.UNSET
    isAdmin: Annotated[
        bool | None | msgspec.UnsetType,
        msgspec.Meta(description="May use the admin API (/api). Default false."),
    ] = msgspec.UNSET
    rateLimitRpm: Annotated[
        Annotated[int, msgspec.Meta(ge=0, le=10_000)] | None | msgspec.UnsetType,
        msgspec.Meta(
            description="Requests per minute of this key; 0 = the global limit. Default 0."
        ),
    ] = msgspec.UNSET
    allowedEndpoints: Annotated[
        Annotated[list[Endpoint], msgspec.Meta(max_length=10)] | None | msgspec.UnsetType,
        msgspec.Meta(description=f"Endpoints the key may call; {_ALL}."),
    ] = msgspec.UNSET
    allowedChannelsMsg: Annotated[
        _Ids | None | msgspec.UnsetType,
        msgspec.Meta(description=f"Messages channel ids the key may use; {_ALL}."),
    ] = msgspec.UNSET
    allowedChannelsResp: Annotated[
        _Ids | None | msgspec.UnsetType,
        msgspec.Meta(description=f"Responses channel ids the key may use; {_ALL}."),
    ] = msgspec.UNSET
    allowedChannelsGemini: Annotated[
        _Ids | None | msgspec.UnsetType,
        msgspec.Meta(description=f"Gemini channel ids the key may use; {_ALL}."),
    ] = msgspec.UNSET
    allowedChannelsChat: Annotated[
        _Ids | None | msgspec.UnsetType,
        msgspec.Meta(description=f"Chat channel ids the key may use; {_ALL}."),
    ] = msgspec.UNSET
    allowedModels: Annotated[
        _Ids | None | msgspec.UnsetType,
        msgspec.Meta(description=f"Models the key may request; {_ALL}."),
    ] = msgspec.UNSET
    expiresAt: Annotated[
        Timestamp | None | msgspec.UnsetType,
        msgspec.Meta(description="RFC 3339 time the key stops working; null = never."),
    ] = msgspec.UNSET
    budgetUsd: Annotated[
        UsdBudget | None | msgspec.UnsetType,
        msgspec.Meta(description="USD the key may spend per budgetPeriod; null = none."),
    ] = msgspec.UNSET
    budgetPeriod: Annotated[
        BudgetPeriod | None | msgspec.UnsetType,
        msgspec.Meta(description=f"UTC period of budgetUsd; {_PERIODS}."),
    ] = msgspec.UNSET
    tokenBudget: Annotated[
        TokenBudget | None | msgspec.UnsetType,
        msgspec.Meta(description="Input + output tokens per tokenBudgetPeriod; null = none."),
    ] = msgspec.UNSET
    tokenBudgetPeriod: Annotated[
        BudgetPeriod | None | msgspec.UnsetType,
        msgspec.Meta(description=f"UTC period of tokenBudget; {_PERIODS}."),
    ] = msgspec.UNSET


class NewClientKey(_KeyFields, kw_only=True):
    """A client key to create (the key itself is generated)."""

    name: Annotated[Text200, msgspec.Meta(description="Display name.")]


class ClientKeyChange(_KeyFields, kw_only=True):
    """Fields of a client key to change; absent ones stay.

    null clears a list (all allowed), a budget or the expiry; other fields stay.
    """

    name: Annotated[
        Text200 | None | msgspec.UnsetType, msgspec.Meta(description="Display name.")
    ] = msgspec.UNSET
    status: Annotated[
        KeyStatus | None | msgspec.UnsetType,
        msgspec.Meta(description="active, disabled or revoked."),
    ] = msgspec.UNSET


def _columns(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    fields = {name: _skip_null(check) for name, (_, check) in _FIELDS.items()}
    if not creating:
        fields["status"] = _skip_null(lambda n, v: choice(n, v, KEY_STATUSES))
    values = check_fields(data, fields)
    if creating and not values.get("name"):
        raise invalid("name", "is required")
    columns = {}
    for name, value in values.items():
        column = _FIELDS[name][0] if name in _FIELDS else name
        if column in _CLEARABLE:
            columns[column] = None if value is None or value == [] else value
        elif value is not None:
            columns[column] = value
    return columns


def _skip_null(check: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    def run(name: str, value: Any) -> Any:
        return None if value is None else check(name, value)

    return run


def _key_id(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or int(raw) > 2**62:
        raise AdminError(404, f"API key {raw!r} not found", "KEY_NOT_FOUND")
    return int(raw)


async def _get(tx: Daos, key_id: int) -> ApiKeysRow:
    row = await tx.api_keys.get(key_id)
    if row is None:
        raise AdminError(404, f"API key {key_id} not found", "KEY_NOT_FOUND")
    return row


async def _view(tx: Daos, row: ApiKeysRow) -> ClientKeyView:
    now = datetime.now(UTC)
    return key_view(row, await read_spend(tx, now), now)


def _set_status(row: ApiKeysRow, status: str) -> ApiKeysRow:
    if row.status == "revoked" and status != "revoked":
        raise AdminError(409, "A revoked key cannot be changed back", "KEY_REVOKED")
    return dataclasses.replace(row, status=status)


class KeysResource:
    """/api/keys routes."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """List keys, optionally by status, paged (limit, offset)."""
        status = req.get_param("status") or None
        if status is not None:
            choice("status", status, KEY_STATUSES)
        limit = _int_param(req, "limit", 100, 1, _MAX_LIMIT)
        offset = _int_param(req, "offset", 0, 0, 2**31)
        where = {"status": status} if status else None

        async def read(tx: Daos) -> ClientKeyList:
            total = await tx.api_keys.count(where)
            rows = await tx.api_keys.list(where, order_by="id", limit=limit, offset=offset)
            now = datetime.now(UTC)
            spend = await read_spend(tx, now)
            return ClientKeyList(
                keys=[key_view(r, spend, now) for r in rows],
                total=total,
                hasMore=offset + len(rows) < total,
            )

        page, revision = await read_config(self.rt, read)
        reply(resp, to_json(page), revision)

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Create a key; the response is the only place the key appears."""
        columns = _columns(to_json(await read_body(req, NewClientKey)), creating=True)
        plain = new_key()
        row = ApiKeysRow(key_hash=hash_key(plain), key_prefix=plain[:8] + "...", **columns)

        async def change(tx: Daos) -> ClientKeyView:
            return await _view(tx, await tx.api_keys.insert(row))

        stored, revision = await write_config(req, self.rt, change)
        reply(resp, to_json(with_secret(stored, plain)), revision, status=201)

    async def on_get_item(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, key_id: str
    ) -> None:
        """Return one key."""
        number = _key_id(key_id)

        async def read(tx: Daos) -> ClientKeyView:
            return await _view(tx, await _get(tx, number))

        view, revision = await read_config(self.rt, read)
        reply(resp, to_json(view), revision)

    async def on_put_item(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, key_id: str
    ) -> None:
        """Change a key's name, description, permissions, limit or status."""
        columns = _columns(to_json(await read_body(req, ClientKeyChange)), creating=False)
        status = columns.pop("status", None)

        def change(row: ApiKeysRow) -> ApiKeysRow:
            row = dataclasses.replace(row, **columns)
            return _set_status(row, status) if status else row

        await self._edit(req, resp, key_id, change)

    async def on_delete_item(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, key_id: str
    ) -> None:
        """Delete a key."""
        number = _key_id(key_id)

        async def change(tx: Daos) -> None:
            await _get(tx, number)
            await tx.api_keys.delete(number)
            await tx.key_spend.delete_where({"key_id": number})

        _, revision = await write_config(req, self.rt, change)
        reply(
            resp, to_json(KeyDeleted(success=True, message="API key deleted", id=number)), revision
        )

    async def on_post_rotate(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, key_id: str
    ) -> None:
        """Replace a key's secret; answer with the new key (shown once)."""
        plain = new_key()

        def change(row: ApiKeysRow) -> ApiKeysRow:
            if row.status == "revoked":
                raise AdminError(409, "A revoked key cannot be rotated", "KEY_REVOKED")
            return dataclasses.replace(row, key_hash=hash_key(plain), key_prefix=plain[:8] + "...")

        await self._edit(req, resp, key_id, change, plain=plain)

    async def on_post_enable(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, key_id: str
    ) -> None:
        """Enable a disabled key (a revoked one stays revoked: 409)."""
        await self._edit(req, resp, key_id, lambda row: _set_status(row, "active"))

    async def on_post_disable(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, key_id: str
    ) -> None:
        """Disable a key."""
        await self._edit(req, resp, key_id, lambda row: _set_status(row, "disabled"))

    async def on_post_revoke(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, key_id: str
    ) -> None:
        """Revoke a key for good."""
        await self._edit(req, resp, key_id, lambda row: _set_status(row, "revoked"))

    async def _edit(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        key_id: str,
        change: Callable[[ApiKeysRow], ApiKeysRow],
        plain: str | None = None,
    ) -> None:
        number = _key_id(key_id)

        async def write(tx: Daos) -> ClientKeyView:
            row = dataclasses.replace(change(await _get(tx, number)), updated_at=datetime.now(UTC))
            await tx.api_keys.update(row)
            return await _view(tx, row)

        view, revision = await write_config(req, self.rt, write)
        reply(resp, to_json(view if plain is None else with_secret(view, plain)), revision)


def _int_param(req: falcon.asgi.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = req.get_param(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.lstrip("-").isdigit()):
        raise AdminError(400, f"'{name}' must be an integer", "INVALID_PARAM", field=name)
    return integer(name, int(raw), lo, hi)


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], rt: Runtime) -> None:
    """Add the /api/keys routes."""
    res = KeysResource(rt)
    app.add_route("/api/keys", res)
    app.add_route("/api/keys/{key_id}", res, suffix="item")
    for action in ("rotate", "enable", "disable", "revoke"):
        app.add_route("/api/keys/{key_id}/" + action, res, suffix=action)


_VIEW: Final = ref(ClientKeyView)
_WITH_KEY: Final = ref(ClientKeyWithSecret)


def _openapi() -> dict[str, Any]:
    tag = "api keys"
    key_id = spec.path_param("key_id", spec.STR, "Key id", "1")
    paths: dict[str, Any] = {
        "/api/keys": {
            "get": spec.operation(
                "List keys",
                tag,
                etag=True,
                params=query_params(KeyListQuery),
                ok_schema=ref(ClientKeyList),
            ),
            "post": spec.operation(
                "Create a key (the key is shown only here)",
                tag,
                etag=True,
                ok=201,
                body=ref(NewClientKey),
                ok_schema=_WITH_KEY,
            ),
        },
        "/api/keys/{key_id}": {
            "get": spec.operation("Get a key", tag, etag=True, params=[key_id], ok_schema=_VIEW),
            "put": spec.operation(
                "Change a key",
                tag,
                etag=True,
                params=[key_id],
                body=ref(ClientKeyChange),
                ok_schema=_VIEW,
            ),
            "delete": spec.operation(
                "Delete a key", tag, etag=True, params=[key_id], ok_schema=ref(KeyDeleted)
            ),
        },
    }
    for action, summary, schema in (
        ("rotate", "Replace the key's secret (shown only here)", _WITH_KEY),
        ("enable", "Enable a key", _VIEW),
        ("disable", "Disable a key", _VIEW),
        ("revoke", "Revoke a key for good", _VIEW),
    ):
        paths["/api/keys/{key_id}/" + action] = {
            "post": spec.operation(summary, tag, etag=True, params=[key_id], ok_schema=schema)
        }
    return paths


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
