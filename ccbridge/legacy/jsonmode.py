"""STORAGE_BACKEND=json: the legacy files are the configuration store.

config.json, pricing.json and model-aliases.json in the data directory
hold the configuration, in the reference's formats. The database holds the
working copy, so the proxy reads one snapshot whatever the mode and every
write still goes through `config_write` (one transaction, one revision):

* a file changed on disk is parsed whole and applied in one config write
  (a file that does not parse is reported and the running config kept);
* every config write (admin API) is written back to the files atomically,
  config.json keeping a backup copy of what it replaced.

Request logs, client keys and usage stay in the database, as in the
reference.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from ccbridge.legacy.aliases_json import parse_aliases
from ccbridge.legacy.config_json import ConfigImport, parse_config
from ccbridge.legacy.errors import LegacyImportError
from ccbridge.legacy.jsonfiles import FileStamp, stamp_of, write_atomic
from ccbridge.legacy.pricing_json import PricingImport, parse_pricing
from ccbridge.store.configdoc import export, replace_model_aliases, replace_pricing
from ccbridge.store.configwrite import ConfigStore, ConfigWrite
from ccbridge.store.history import SYSTEM, Actor
from generated.dao import Daos
from generated.rows import ModelAliasesRow

__all__ = ("FILES", "JsonMode")

log = logging.getLogger("ccbridge.jsonmode")
_FILES = Actor(None, SYSTEM.name, "JSON files changed")

CONFIG, PRICING, ALIASES = "config.json", "pricing.json", "model-aliases.json"
FILES = (CONFIG, PRICING, ALIASES)

T = TypeVar("T")


class JsonMode:
    """Keep the JSON files and the database's config in step.

    It is the config writer in JSON mode: every write goes to the database
    store, then to the files.
    """

    def __init__(self, store: ConfigStore, data_dir: Path, poll_seconds: float = 1.0) -> None:
        self.store = store
        self.data_dir = data_dir
        self.poll_seconds = poll_seconds
        self._stamps: dict[str, FileStamp | None] = {}
        self._task: asyncio.Task[None] | None = None
        self.loads = 0
        self.exports = 0
        self.last_error = ""

    async def start(self) -> None:
        """Load the files (or write them from the database), then watch."""
        if (self.data_dir / CONFIG).exists():
            await self.load()
        else:
            await self.export()
        self._task = asyncio.create_task(self._watch(), name="ccbridge-jsonmode")

    async def stop(self) -> None:
        """Stop watching."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def read(self, read: Callable[[Daos], Awaitable[T]]) -> tuple[T, int]:
        """Run ``read`` in one read-only transaction; return it and the revision."""
        return await self.store.read(read)

    @contextlib.asynccontextmanager
    async def write(
        self, expected: int | None = None, *, actor: Actor = SYSTEM
    ) -> AsyncIterator[ConfigWrite]:
        """Open one config write; the files follow once it committed."""
        async with self.store.write(expected, actor=actor) as write:
            yield write
        await self.export()

    async def load(self) -> bool:
        """Apply the files to the database in one config write.

        Returns False, keeping the running config, when a file is invalid.
        """
        stamps = {name: stamp_of(self.data_dir / name) for name in FILES}
        try:
            parsed = self._parse()
        except LegacyImportError as ex:
            self.last_error = str(ex)
            log.error("json store: %s; keeping the running configuration", ex)
            self._stamps = stamps  # report a broken file once, not every poll
            return False
        config, pricing, aliases = parsed
        # The store's own write: the files are the source.
        async with self.store.write(actor=_FILES) as write:
            tx = write.tx
            if config is not None:
                await tx.channels.clear()
                await tx.channels.insert_many(list(config.channels))
                await tx.settings.upsert_many(list(config.settings))
            if pricing is not None:
                currency = pricing.currency.value if pricing.currency is not None else "USD"
                await replace_pricing(tx, list(pricing.models), currency)
            if aliases is not None:
                await replace_model_aliases(tx, list(aliases))
        self._stamps = stamps
        self.last_error = ""
        self.loads += 1
        if config is not None and config.notes:
            # Fix-ups (generated ids, migrated fields) are saved, as the
            # reference's loader does, so ids stay stable across loads;
            # unless the file changed again meanwhile (then that wins).
            await self.export(unchanged_since=stamps)
        return True

    def _parse(
        self,
    ) -> tuple[ConfigImport | None, PricingImport | None, tuple[ModelAliasesRow, ...] | None]:
        def read(name: str) -> bytes | None:
            path = self.data_dir / name
            return path.read_bytes() if path.exists() else None

        raw = {name: read(name) for name in FILES}
        config = parse_config(data, CONFIG) if (data := raw[CONFIG]) is not None else None
        pricing = parse_pricing(data, PRICING) if (data := raw[PRICING]) is not None else None
        aliases = parse_aliases(data, ALIASES) if (data := raw[ALIASES]) is not None else None
        return config, pricing, aliases

    async def export(self, unchanged_since: dict[str, FileStamp | None] | None = None) -> None:
        """Write the database's config to the files, atomically.

        Args:
            unchanged_since: Skip any file that no longer has this stamp
                (someone edited it; the watcher will load their version).
        """
        async with self.store.db.transaction(readonly=True) as tx:
            doc = await export(tx, include_keys=True)
        backups = self.data_dir / "backups"
        documents = {CONFIG: doc["config"], PRICING: doc["pricing"], ALIASES: doc["aliases"]}
        for name, content in documents.items():
            path = self.data_dir / name
            if unchanged_since is not None and stamp_of(path) != unchanged_since.get(name):
                continue
            data = (json.dumps(content, indent=2, ensure_ascii=False) + "\n").encode()
            self._stamps[name] = write_atomic(path, data, backups if name == CONFIG else None)
        self.exports += 1

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                current = {name: stamp_of(self.data_dir / name) for name in FILES}
                if any(current[name] != self._stamps.get(name) for name in FILES):
                    await self.load()
            except Exception as ex:  # keep watching; the database may be away
                log.warning("json store: reloading the files failed: %s", ex)
