"""The database's election of the one instance that refreshes a token.

A refresh token is single-use, so of all instances sharing a database only
one may spend it. Before calling the token endpoint an instance *claims*
the refresh in one short transaction that takes the config revision's row
lock (the lock every config write takes; SQLite's write transaction is
exclusive anyway): if the stored access token is no longer the one it saw,
another instance already refreshed and the stored tokens are the answer;
if another instance holds an unexpired lease, it waits; otherwise it
writes its lease (a ``settings`` row of category ``oauth_lease`` that the
config loader ignores) and refreshes. The new tokens are saved by a
revision-checked config write that also drops the lease, so every
instance reloads and uses them. A lease outlives a crashed holder by at
most its time to live.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from typing import Any, Final

from ccbridge.db.base import Database
from ccbridge.store.configwrite import ConfigWriter
from generated.dao import Daos
from generated.rows import ChannelsRow, SettingsRow

__all__ = ("LEASE_CATEGORY", "Busy", "Claim", "Claimed", "Fresh", "claim", "release", "save")

LEASE_CATEGORY: Final = "oauth_lease"
_PREFIX: Final = "oauth_refresh_lease:"


@dataclass(frozen=True, slots=True)
class Claimed:
    """This instance holds the lease: it calls the token endpoint."""


@dataclass(frozen=True, slots=True)
class Busy:
    """Another instance holds the lease: wait for its tokens."""


@dataclass(frozen=True, slots=True)
class Fresh:
    """Another instance refreshed already: these are the stored tokens."""

    tokens: dict[str, Any]


Claim = Claimed | Busy | Fresh


def _key(channel_uid: str) -> str:
    return _PREFIX + channel_uid


async def _stored(tx: Daos, channel_uid: str) -> ChannelsRow:
    rows = await tx.channels.list(where={"channel_id": channel_uid})
    if not rows:
        raise LookupError(f"channel {channel_uid!r} no longer exists")
    return rows[0]


async def claim(db: Database, channel_uid: str, seen: str, holder: str, ttl: float) -> Claim:
    """Claim the refresh of the tokens whose access token was ``seen``.

    Raises:
        LookupError: The channel was deleted meanwhile.
    """
    now = time.time()
    async with db.transaction() as tx:
        await tx.settings.lock_revision()
        tokens = (await _stored(tx, channel_uid)).oauth_tokens or {}
        if tokens.get("access_token") != seen:
            return Fresh(dict(tokens))
        row = await tx.settings.get(_key(channel_uid))
        lease = _lease(row.value) if row is not None else {}
        if lease.get("holder") not in (None, holder) and float(lease.get("until", 0)) > now:
            return Busy()
        value = json.dumps({"holder": holder, "until": now + ttl})
        await tx.settings.upsert(
            SettingsRow(key=_key(channel_uid), value=value, category=LEASE_CATEGORY)
        )
    return Claimed()


async def release(db: Database, channel_uid: str, holder: str) -> None:
    """Drop this instance's lease (a failed refresh), if it still holds it."""
    async with db.transaction() as tx:
        row = await tx.settings.get(_key(channel_uid))
        if row is not None and _lease(row.value).get("holder") == holder:
            await tx.settings.delete(_key(channel_uid))


async def save(
    config: ConfigWriter, channel_uid: str, seen: str, tokens: dict[str, str]
) -> dict[str, Any]:
    """Store refreshed tokens in one config write and drop the lease.

    Returns the tokens in force afterwards: ours, or (should the lease
    have expired and another instance refreshed meanwhile) theirs.

    Raises:
        LookupError: The channel was deleted meanwhile.
    """
    async with config.write() as write:
        row = await _stored(write.tx, channel_uid)
        current = row.oauth_tokens or {}
        await write.tx.settings.delete(_key(channel_uid))
        if current.get("access_token") != seen:
            return dict(current)
        await write.tx.channels.update(dataclasses.replace(row, oauth_tokens=tokens))
    return tokens


def _lease(value: str) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
