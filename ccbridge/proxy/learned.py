"""Config that traffic teaches, written in the background (spec §3.3, §3.6).

* A client CLI User-Agent newer than the stored one becomes the pool's
  fallback (the ``user_agent`` setting), sent for clients whose own UA is
  not a CLI's.
* A key that was rate-limited (a 429 that failed over) moves to the end
  of its channel's key list once another key of the channel succeeded,
  so it is tried last after its cool-down.

Both are config writes: revision-checked, then reloaded by every instance.
They run as tasks, so the request path never waits on the database; a
change already written or in flight is not written again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ccbridge.store.configwrite import ConfigWriter
from ccbridge.store.history import SYSTEM, Actor
from ccbridge.store.live import LiveConfig
from ccbridge.store.loader import lenient_object
from ccbridge.store.snapshot import Channel
from ccbridge.upstream.client import DEFAULT_USER_AGENTS, UAFamily, user_agent_version
from generated.rows import SettingsRow

__all__ = ("ConfigLearner", "demoted")

log = logging.getLogger("ccbridge.learned")

USER_AGENT_SETTING = "user_agent"
# How the history names what ccbridge learned from traffic.
_LEARNED_UA = Actor(None, SYSTEM.name, "learned a newer client User-Agent")
_LEARNED_KEY_ORDER = Actor(None, SYSTEM.name, "moved a rate-limited key to the end")


class _Unchanged(Exception):
    """Raised inside a config write to roll it back: nothing to change."""


class ConfigLearner:
    """Schedules the config writes that requests teach."""

    def __init__(self, config: ConfigWriter, live: LiveConfig) -> None:
        self._config = config
        self._live = live
        self._tasks: set[asyncio.Task[None]] = set()
        self._newest_ua: dict[str, tuple[int, ...]] = {}
        self._demoting: set[tuple[str, tuple[str, ...]]] = set()

    def offer_user_agent(self, family: UAFamily, user_agent: str) -> None:
        """Store a client's CLI User-Agent if it is newer than any known."""
        version = user_agent_version(user_agent, family)
        if version is None or version <= self._newest_ua.get(family, ()):
            return
        stored = self._live.snapshot.user_agents.get(family) or DEFAULT_USER_AGENTS[family]
        if version <= (user_agent_version(stored, family) or ()):
            return
        self._newest_ua[family] = version
        self._spawn(self._write_user_agent(family, user_agent.strip(), version), family=family)

    def demote_keys(self, channel: Channel, keys: Iterable[str]) -> None:
        """Move rate-limited keys to the end of the channel's key list."""
        keys = tuple(keys)  # read twice below
        order = demoted(channel.api_keys, keys)
        if order == channel.api_keys or (channel.uid, order) in self._demoting:
            return
        self._demoting.add((channel.uid, order))
        self._spawn(self._write_key_order(channel.uid, set(keys)), demotion=(channel.uid, order))

    async def stop(self) -> None:
        """Let the writes in flight finish (shutdown)."""
        if self._tasks:
            await asyncio.wait(self._tasks)

    def _spawn(
        self,
        write: Coroutine[Any, Any, None],
        *,
        family: UAFamily | None = None,
        demotion: tuple[str, tuple[str, ...]] | None = None,
    ) -> None:
        task = asyncio.ensure_future(self._run(write, family, demotion))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self,
        write: Coroutine[Any, Any, None],
        family: UAFamily | None,
        demotion: tuple[str, tuple[str, ...]] | None,
    ) -> None:
        try:
            await write
        except _Unchanged:
            pass
        except Exception:  # forget it, so that a later request teaches it again
            log.exception("learned config write failed")
            if family is not None:
                self._newest_ua.pop(family, None)
        finally:
            if demotion is not None:
                self._demoting.discard(demotion)

    async def _write_user_agent(
        self, family: UAFamily, user_agent: str, version: tuple[int, ...]
    ) -> None:
        async with self._config.write(actor=_LEARNED_UA) as write:
            row = await write.tx.settings.get(USER_AGENT_SETTING)
            value = lenient_object(row.value if row is not None else None)
            found = value.get(family)
            entry = found if isinstance(found, dict) else {}
            stored = user_agent_version(str(entry.get("latest") or ""), family)
            if stored is not None and stored >= version:  # another instance was first
                raise _Unchanged
            at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            value[family] = {"latest": user_agent, "lastCapturedAt": at}
            await write.tx.settings.upsert(
                SettingsRow(key=USER_AGENT_SETTING, value=json.dumps(value), category="config")
            )
        log.info("captured %s User-Agent %s", family, user_agent)

    async def _write_key_order(self, uid: str, keys: set[str]) -> None:
        async with self._config.write(actor=_LEARNED_KEY_ORDER) as write:
            rows = await write.tx.channels.list(where={"channel_id": uid})
            if not rows:  # deleted meanwhile
                raise _Unchanged
            row = rows[0]
            order = demoted(tuple(row.api_keys or ()), keys)
            if list(order) == list(row.api_keys or ()):
                raise _Unchanged
            now = datetime.now(UTC)
            await write.tx.channels.update(replace(row, api_keys=list(order), updated_at=now))


def demoted(keys: tuple[str, ...], last: Iterable[str]) -> tuple[str, ...]:
    """Return ``keys`` with those in ``last`` moved to the end, in order."""
    moved = set(last)
    return tuple(k for k in keys if k not in moved) + tuple(k for k in keys if k in moved)
