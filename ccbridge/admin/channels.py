"""Channel configuration of the four pools: list, create, edit, keys, order.

Paths and bodies follow the reference (spec §4): ``/api/channels`` is the
messages pool, ``/api/{responses,gemini,chat}/channels`` the others. A
channel is addressed by its stable id (non-numeric ``:id`` or
``?channelId=``) or, for old clients, by its index in the pool. Every
change is one revision-checked config write (If-Match, ETag).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

import falcon.asgi
import msgspec

from ccbridge.admin import spec
from ccbridge.admin.channel_fields import (
    channel_columns,
    channel_view,
    check_composite,
    new_channel_id,
    validate_keys,
)
from ccbridge.admin.channel_views import ChannelList, ChannelSaved, ChannelView
from ccbridge.admin.common import AdminError, read_config, reply, write_config
from ccbridge.admin.model import read_body, ref
from ccbridge.admin.validate import invalid
from ccbridge.runtime import Runtime
from ccbridge.store.shapes import CHANNEL_SHAPES, KEY_PATTERN, LoadBalance, to_json
from ccbridge.store.snapshot import POOLS, ChannelStatus
from generated.dao import Daos
from generated.rows import ChannelsRow, SettingsRow

__all__ = (
    "LOAD_BALANCE_PATHS",
    "OPENAPI_PATHS",
    "POOL_PATHS",
    "ChannelsResource",
    "LoadBalanceResource",
    "find_channel",
    "find_index",
    "pool_rows",
    "register",
)

POOL_PATHS: Final = {
    "messages": "/api/channels",
    "responses": "/api/responses/channels",
    "gemini": "/api/gemini/channels",
    "chat": "/api/chat/channels",
}
LOAD_BALANCE_PATHS: Final = {
    "messages": "/api/loadbalance",
    "responses": "/api/responses/loadbalance",
    "gemini": "/api/gemini/loadbalance",
    "chat": "/api/chat/loadbalance",
}
MAX_PROMOTION_SECONDS: Final = 30 * 86_400
_KEY_MOVES: Final = {
    None: "API key removed",
    0: "API key moved to top",
    -1: "API key moved to bottom",
}

Change = Callable[[ChannelsRow, list[ChannelsRow]], ChannelsRow]


async def pool_rows(tx: Daos, pool: str) -> list[ChannelsRow]:
    """Return a pool's channels in index order (id order, as the loader)."""
    return await tx.channels.list(where={"channel_type": pool}, order_by="id")


def find_index(uids: Sequence[str], ident: str, channel_id: str | None = None) -> int:
    """Return the index of the channel a request addresses, or raise 404.

    ``channel_id`` (the ``?channelId=`` parameter) wins; a numeric ``ident``
    within range is an index; anything else is a stable id.

    Args:
        uids: The pool's stable ids in index order.
        ident: The ``:id`` path segment.
        channel_id: The ``?channelId=`` parameter, if given.
    """
    if not channel_id and ident.isascii() and ident.isdigit() and int(ident) < len(uids):
        return int(ident)
    wanted = channel_id or ident
    for index, uid in enumerate(uids):
        if uid == wanted:
            return index
    raise AdminError(404, f"Channel {wanted!r} not found", "CHANNEL_NOT_FOUND")


def find_channel(
    rows: list[ChannelsRow], ident: str, channel_id: str | None = None
) -> tuple[int, ChannelsRow]:
    """Return (index, row) of the channel a request addresses, or 404."""
    index = find_index([r.channel_id for r in rows], ident, channel_id)
    return index, rows[index]


def _unique_name(rows: list[ChannelsRow], name: str, uid: str = "") -> None:
    lowered = name.casefold()
    if any(r.name.casefold() == lowered and r.channel_id != uid for r in rows):
        raise AdminError(409, f"A channel named {name!r} already exists", "DUPLICATE_NAME")


def _now() -> datetime:
    return datetime.now(UTC)


def _saved(message: str, **extra: Any) -> Any:
    return to_json(ChannelSaved(success=True, message=message, **extra))


async def _pools(tx: Daos) -> dict[str, list[ChannelsRow]]:
    rows = await tx.channels.list(order_by="id")
    pools: dict[str, list[ChannelsRow]] = {pool: [] for pool in POOLS}
    for row in rows:
        pools.setdefault(row.channel_type, []).append(row)
    return pools


async def load_balance(tx: Daos, pool: str) -> str:
    """Return a pool's stored strategy (responses inherits messages)."""
    row = await tx.settings.get(f"{pool}_load_balance")
    if row is not None and row.value:
        return row.value
    if pool == "responses":
        return await load_balance(tx, "messages")
    return "failover"


class ChannelsResource:
    """Every /api/<pool>/channels route of one pool."""

    def __init__(self, rt: Runtime, pool: str) -> None:
        self.rt = rt
        self.pool = pool

    # -- reads ---------------------------------------------------------------

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """List the pool's channels, keys masked."""

        async def read(tx: Daos) -> dict[str, Any]:
            rows = await pool_rows(tx, self.pool)
            return {
                "channels": [channel_view(row, i) for i, row in enumerate(rows)],
                "loadBalance": await load_balance(tx, self.pool),
            }

        reply(resp, *await read_config(self.rt, read))

    async def on_get_item(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, id: str
    ) -> None:
        """Return one channel, keys masked."""

        async def read(tx: Daos) -> dict[str, Any]:
            index, row = find_channel(await pool_rows(tx, self.pool), id, _cid(req))
            return channel_view(row, index)

        reply(resp, *await read_config(self.rt, read))

    # -- create, update, delete ----------------------------------------------

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Create a channel (id generated unless given)."""
        body = await read_body(req, CHANNEL_SHAPES[self.pool][0])
        columns = channel_columns(to_json(body), self.pool, creating=True)

        async def change(tx: Daos) -> dict[str, Any]:
            pools = await _pools(tx)
            rows = pools[self.pool]
            _unique_name(rows, columns["name"])
            taken = {r.channel_id for chans in pools.values() for r in chans}
            uid = columns.pop("channel_id", None) or new_channel_id(taken)
            if uid in taken:
                raise AdminError(409, f"Channel id {uid!r} is taken", "DUPLICATE_ID")
            columns.setdefault("status", "active")
            row = ChannelsRow(channel_id=uid, channel_type=self.pool, **_status(columns))
            check_composite(row, pools)
            stored = await tx.channels.insert(row)
            return channel_view(stored, len(rows))

        view, revision = await write_config(req, self.rt, change)
        reply(resp, _saved("Channel created", id=view["id"], channel=view), revision)

    async def on_put_item(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, id: str
    ) -> None:
        """Change some fields of a channel."""
        body = await read_body(req, CHANNEL_SHAPES[self.pool][1])
        columns = channel_columns(to_json(body), self.pool, creating=False)

        def change(row: ChannelsRow, rows: list[ChannelsRow]) -> ChannelsRow:
            uid = columns.pop("channel_id", row.channel_id)
            if uid != row.channel_id:
                raise AdminError(
                    409,
                    f"'id' cannot be changed (it is {row.channel_id!r})",
                    "ID_IMMUTABLE",
                    field="id",
                )
            if "name" in columns:
                _unique_name(rows, columns["name"], row.channel_id)
            if "service_type" in columns and columns["service_type"] != row.service_type:
                if "composite" in (columns["service_type"], row.service_type):
                    raise AdminError(
                        409,
                        "'serviceType' cannot change to or from composite",
                        "SERVICE_TYPE_IMMUTABLE",
                        field="serviceType",
                    )
            return dataclasses.replace(row, **_status(columns))

        view, revision = await self._edit(req, id, change, check=True)
        if "api_keys" in columns:
            self.rt.scheduler.breaker.reset(view["id"])
        reply(resp, _saved("Channel updated", channel=view), revision)

    async def on_delete_item(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, id: str
    ) -> None:
        """Delete a channel and prune composite references to it."""

        async def change(tx: Daos) -> str:
            pools = await _pools(tx)
            _, row = find_channel(pools[self.pool], id, _cid(req))
            assert row.id is not None
            await tx.channels.delete(row.id)
            await tx.channel_usage.delete(row.channel_id)
            await tx.channel_suspensions.delete(row.channel_id)
            for other in pools["messages"]:
                pruned = _prune_composite(other, row.channel_id)
                if pruned is not None:
                    await tx.channels.update(pruned)
            return row.channel_id

        uid, revision = await write_config(req, self.rt, change)
        self.rt.suspensions.lift(uid)
        reply(resp, _saved("Channel deleted", id=uid), revision)

    # -- keys --------------------------------------------------------------

    async def on_post_keys(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, id: str
    ) -> None:
        """Append an upstream API key."""
        key = _one_key("apiKey", (await read_body(req, NewUpstreamKey)).apiKey)

        def change(row: ChannelsRow, rows: list[ChannelsRow]) -> ChannelsRow:
            keys = list(row.api_keys or [])
            if key in keys:
                raise AdminError(409, "API key already exists", "DUPLICATE_KEY")
            return dataclasses.replace(row, api_keys=[*keys, key])

        view, revision = await self._edit(req, id, change)
        reply(resp, _saved("API key added", channel=view), revision)

    async def on_delete_key(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, id: str, key_index: str
    ) -> None:
        """Remove the key at an index."""
        await self._move_key(req, resp, id, key_index, None)

    async def on_post_key_top(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, id: str, key_index: str
    ) -> None:
        """Move the key at an index to the front."""
        await self._move_key(req, resp, id, key_index, 0)

    async def on_post_key_bottom(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, id: str, key_index: str
    ) -> None:
        """Move the key at an index to the end."""
        await self._move_key(req, resp, id, key_index, -1)

    async def _move_key(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        id: str,
        key_index: str,
        to: int | None,
    ) -> None:
        def change(row: ChannelsRow, rows: list[ChannelsRow]) -> ChannelsRow:
            keys = list(row.api_keys or [])
            if not (key_index.isascii() and key_index.isdigit()) or int(key_index) >= len(keys):
                raise AdminError(404, f"Key index {key_index} not found", "KEY_NOT_FOUND")
            key = keys.pop(int(key_index))
            if to == 0:
                keys.insert(0, key)
            elif to == -1:
                keys.append(key)
            return dataclasses.replace(row, api_keys=keys)

        view, revision = await self._edit(req, id, change)
        reply(resp, _saved(_KEY_MOVES[to], channel=view), revision)

    # -- order, status, promotion -------------------------------------------

    async def on_post_reorder(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Set priority = position + 1 for the listed channels."""
        order = (await read_body(req, Reorder)).order

        async def change(tx: Daos) -> list[str]:
            rows = await pool_rows(tx, self.pool)
            picked = [
                find_channel(rows, str(i)) if isinstance(i, int) else find_channel(rows, "", i)
                for i in order
            ]
            uids = [row.channel_id for _, row in picked]
            if len(set(uids)) != len(uids):
                raise invalid("order", "must not name a channel twice")
            for position, (_, row) in enumerate(picked):
                if row.priority != position + 1:
                    await tx.channels.update(
                        dataclasses.replace(row, priority=position + 1, updated_at=_now())
                    )
            return uids

        uids, revision = await write_config(req, self.rt, change)
        reply(resp, _saved("Channels reordered", order=uids), revision)

    async def on_patch_status(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, id: str
    ) -> None:
        """Set a channel's status (active, suspended, disabled)."""
        data = to_json(await read_body(req, StatusBody))

        def change(row: ChannelsRow, rows: list[ChannelsRow]) -> ChannelsRow:
            return dataclasses.replace(row, status=data["status"])

        view, revision = await self._edit(req, id, change)
        reply(resp, _saved("Channel status updated", status=data["status"], channel=view), revision)

    async def on_post_resume(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, id: str
    ) -> None:
        """Clear the circuit breaker and suspension; a suspended channel turns active."""

        async def change(tx: Daos) -> dict[str, Any]:
            index, row = find_channel(await pool_rows(tx, self.pool), id, _cid(req))
            await tx.channel_suspensions.delete(row.channel_id)
            if row.status == "suspended":
                row = dataclasses.replace(row, status="active", updated_at=_now())
                await tx.channels.update(row)
            return channel_view(row, index)

        view, revision = await write_config(req, self.rt, change)
        self.rt.scheduler.breaker.reset(view["id"])
        self.rt.suspensions.lift(view["id"])
        reply(resp, _saved("Channel resumed", channel=view), revision)

    async def on_post_promotion(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, id: str
    ) -> None:
        """Promote a channel for ``duration`` seconds (0 clears)."""
        duration = (await read_body(req, Promotion)).duration

        async def change(tx: Daos) -> dict[str, Any]:
            rows = await pool_rows(tx, self.pool)
            index, row = find_channel(rows, id, _cid(req))
            until = _now() + timedelta(seconds=duration) if duration else None
            for other in rows:  # one promoted channel per pool
                if other.channel_id != row.channel_id and other.promotion_until is not None:
                    await tx.channels.update(dataclasses.replace(other, promotion_until=None))
            row = dataclasses.replace(row, promotion_until=until, updated_at=_now())
            await tx.channels.update(row)
            return channel_view(row, index)

        view, revision = await write_config(req, self.rt, change)
        message = "Channel promoted" if duration else "Channel promotion cleared"
        reply(resp, _saved(message, promotionUntil=view["promotionUntil"], channel=view), revision)

    async def _edit(
        self, req: falcon.asgi.Request, ident: str, change: Change, *, check: bool = False
    ) -> tuple[dict[str, Any], int]:
        """Apply ``change`` to one channel row in a config write."""

        async def write(tx: Daos) -> dict[str, Any]:
            pools = await _pools(tx)
            index, row = find_channel(pools[self.pool], ident, _cid(req))
            new = dataclasses.replace(change(row, pools[self.pool]), updated_at=_now())
            if check:
                check_composite(new, pools)
            await tx.channels.update(new)
            return channel_view(new, index)

        return await write_config(req, self.rt, write)


class LoadBalanceResource:
    """PUT /api/[<pool>/]loadbalance {strategy}."""

    def __init__(self, rt: Runtime, pool: str) -> None:
        self.rt = rt
        self.pool = pool

    async def on_put(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Set the pool's load-balance strategy."""
        data = to_json(await read_body(req, Strategy))
        key = f"{self.pool}_load_balance"
        row = SettingsRow(key=key, value=data["strategy"], category="config")

        async def change(tx: Daos) -> None:
            await tx.settings.upsert(row)

        _, revision = await write_config(req, self.rt, change)
        reply(resp, _saved("Load balance updated", strategy=data["strategy"]), revision)


class NewUpstreamKey(msgspec.Struct, forbid_unknown_fields=True):
    """An upstream key to add."""

    apiKey: Annotated[
        str,
        msgspec.Meta(
            max_length=4096,
            pattern=KEY_PATTERN,
            description="Upstream API key: printable ASCII without spaces.",
        ),
    ]


_Position = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
_Ident = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[^\x00]*$")]


class Reorder(msgspec.Struct, forbid_unknown_fields=True):
    """The new order of a pool's channels."""

    order: Annotated[
        list[_Position | _Ident],
        msgspec.Meta(
            min_length=1,
            max_length=10_000,
            description="Channels by index (integer) or stable id (string), first = priority 1.",
        ),
    ]


class StatusBody(msgspec.Struct, forbid_unknown_fields=True):
    """A channel status."""

    status: Annotated[
        ChannelStatus,
        msgspec.Meta(description="active, suspended or disabled."),
    ]


class Promotion(msgspec.Struct, forbid_unknown_fields=True):
    """How long to prefer a channel."""

    duration: Annotated[
        int,
        msgspec.Meta(ge=0, le=MAX_PROMOTION_SECONDS, description="Seconds to prefer it; 0 clears."),
    ]


class Strategy(msgspec.Struct, forbid_unknown_fields=True):
    """A load-balance strategy."""

    strategy: Annotated[LoadBalance, msgspec.Meta(description="failover, round-robin or random.")]


def _cid(req: falcon.asgi.Request) -> str | None:
    value = req.get_param("channelId")
    return value or None


def _status(columns: dict[str, Any]) -> dict[str, Any]:
    if columns.get("status") == "":
        columns["status"] = "active"
    return columns


def _one_key(name: str, value: Any) -> str:
    return validate_keys(name, [value])[0] if value is not None else ""


def _prune_composite(row: ChannelsRow, uid: str) -> ChannelsRow | None:
    """Return ``row`` without references to channel ``uid`` (None if none)."""
    if row.service_type != "composite" or not row.composite_mappings:
        return None
    changed = False
    mappings = []
    for mapping in row.composite_mappings:
        m = dict(mapping)
        chain = [c for c in m.get("failoverChain") or [] if c != uid]
        targets = [t for t in m.get("failoverTargets") or [] if t.get("channelId") != uid]
        if chain != (m.get("failoverChain") or []) or targets != (m.get("failoverTargets") or []):
            changed = True
            m["failoverChain"], m["failoverTargets"] = chain, targets
        if m.get("targetChannelId") == uid:
            changed = True
            m["targetChannelId"] = chain.pop(0) if chain else ""
            m["failoverChain"] = chain
        mappings.append(m)
    return dataclasses.replace(row, composite_mappings=mappings) if changed else None


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], rt: Runtime) -> None:
    """Add the channel and load-balance routes of every pool."""
    for pool, base in POOL_PATHS.items():
        res = ChannelsResource(rt, pool)
        app.add_route(base, res)
        app.add_route(f"{base}/reorder", res, suffix="reorder")
        app.add_route(base + "/{id}", res, suffix="item")
        app.add_route(base + "/{id}/keys", res, suffix="keys")
        app.add_route(base + "/{id}/keys/index/{key_index}", res, suffix="key")
        app.add_route(base + "/{id}/keys/index/{key_index}/top", res, suffix="key_top")
        app.add_route(base + "/{id}/keys/index/{key_index}/bottom", res, suffix="key_bottom")
        app.add_route(base + "/{id}/status", res, suffix="status")
        app.add_route(base + "/{id}/resume", res, suffix="resume")
        app.add_route(base + "/{id}/promotion", res, suffix="promotion")
        app.add_route(LOAD_BALANCE_PATHS[pool], LoadBalanceResource(rt, pool))


def _openapi() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    ident = spec.path_param("id", spec.STR, "Stable channel id, or index in the pool", "0")
    key_index = spec.path_param("key_index", spec.STR, "Index of the key in the channel", "0")
    cid = spec.query_param("channelId", spec.STR, "Stable channel id (wins over the path)")
    saved = ref(ChannelSaved)
    for pool, base in POOL_PATHS.items():
        tag = f"channels ({pool})"

        def op(summary: str, **kw: Any) -> dict[str, Any]:
            return spec.operation(f"{summary} ({pool})", tag, etag=True, **kw)  # noqa: B023

        item = [ident, cid]
        listing = ref(ChannelList)
        paths[base] = {
            "get": op("List channels", ok_schema=listing),
            "post": op("Create a channel", body=ref(CHANNEL_SHAPES[pool][0]), ok_schema=saved),
        }
        paths[f"{base}/reorder"] = {
            "post": op(
                "Set priority = position + 1",
                body=ref(Reorder),
                ok_schema=saved,
            )
        }
        paths[base + "/{id}"] = {
            "get": op("Get a channel", params=item, ok_schema=ref(ChannelView)),
            "put": op(
                "Change fields of a channel",
                params=item,
                body=ref(CHANNEL_SHAPES[pool][1]),
                ok_schema=saved,
            ),
            "delete": op("Delete a channel", params=item, ok_schema=saved),
        }
        paths[base + "/{id}/keys"] = {
            "post": op(
                "Add an upstream key",
                params=item,
                body=ref(NewUpstreamKey),
                ok_schema=saved,
            )
        }
        key_params = [ident, key_index, cid]
        paths[base + "/{id}/keys/index/{key_index}"] = {
            "delete": op("Remove a key by index", params=key_params, ok_schema=saved)
        }
        for end in ("top", "bottom"):
            paths[base + "/{id}/keys/index/{key_index}/" + end] = {
                "post": op(f"Move a key to the {end}", params=key_params, ok_schema=saved)
            }
        paths[base + "/{id}/status"] = {
            "patch": op(
                "Set the channel status",
                params=item,
                body=ref(StatusBody),
                ok_schema=saved,
            )
        }
        paths[base + "/{id}/resume"] = {
            "post": op("Clear breaker and suspension", params=item, ok_schema=saved)
        }
        paths[base + "/{id}/promotion"] = {
            "post": op(
                "Promote for a duration (seconds; 0 clears)",
                params=item,
                body=ref(Promotion),
                ok_schema=saved,
            )
        }
        paths[LOAD_BALANCE_PATHS[pool]] = {
            "put": op(
                "Set the load-balance strategy",
                body=ref(Strategy),
                ok_schema=saved,
            )
        }
    return paths


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
