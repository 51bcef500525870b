"""Server-side backups of the whole configuration, kept in the database.

A backup is the backup document of ``GET /api/config/backup`` with the
channel keys in clear (as the reference's backup files), without client
keys: those are credentials managed on their own, and a restore never
revokes or revives one. Stored gzipped in ``config_backups`` so every
instance sees the same backups. Automatic backups (before a restore or a
rollback) are written inside that change's transaction and only the
newest few are kept; manual ones stay until deleted.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime
from typing import Any, Final

from ccbridge.store.configdoc import export
from ccbridge.store.configwrite import ConfigWrite
from generated.dao import Daos
from generated.rows import ConfigBackupsRow

__all__ = (
    "BEFORE_RESTORE",
    "BEFORE_ROLLBACK",
    "MANUAL",
    "NAME_PATTERN",
    "REASONS",
    "backup_document",
    "save_backup",
    "save_before",
)

MANUAL: Final = "manual"
BEFORE_RESTORE: Final = "before_restore"
BEFORE_ROLLBACK: Final = "before_rollback"
REASONS: Final = (MANUAL, BEFORE_RESTORE, BEFORE_ROLLBACK)
_PREFIXES: Final = {
    MANUAL: "manual_backup_",
    BEFORE_RESTORE: "auto_before_restore_",
    BEFORE_ROLLBACK: "auto_before_rollback_",
}
# What a backup name may be: letters, digits, _ - . and .json at the end.
NAME_PATTERN: Final = re.compile(r"^[A-Za-z0-9_.-]{1,120}\.json$")


async def _free_name(tx: Daos, reason: str, at: datetime) -> str:
    stem = f"{_PREFIXES[reason]}{at:%Y-%m-%d_%H%M%S}"
    name, n = f"{stem}.json", 1
    while await tx.config_backups.get(name) is not None:  # same second
        n += 1
        name = f"{stem}_{n}.json"
    return name


async def save_backup(
    tx: Daos, reason: str, revision: int, actor_name: str, keep: int, *, name: str | None = None
) -> ConfigBackupsRow:
    """Store the configuration as ``tx`` sees it now.

    Args:
        tx: The transaction (a config write's, before it changes anything).
        reason: MANUAL, BEFORE_RESTORE or BEFORE_ROLLBACK.
        revision: The config revision backed up.
        actor_name: Who asked for it (the name of the admin key).
        keep: Automatic backups to keep (older ones are deleted).
        name: The backup's name (a free one by time if None).
    """
    now = datetime.now(UTC)
    doc = await export(tx, include_keys=True)
    doc.pop("apiKeys", None)
    raw = json.dumps(doc, separators=(",", ":")).encode()
    row = await tx.config_backups.insert(
        ConfigBackupsRow(
            name=name or await _free_name(tx, reason, now),
            created_at=now,
            reason=reason,
            revision=revision,
            actor_name=actor_name,
            size=len(raw),
            document=gzip.compress(raw, 6),
        )
    )
    if reason != MANUAL:
        await tx.config_backups.prune_automatic(keep=keep)
    return row


def backup_document(row: ConfigBackupsRow) -> dict[str, Any]:
    """Return the backup document stored in a row."""
    doc: dict[str, Any] = json.loads(gzip.decompress(row.document))
    return doc


async def save_before(write: ConfigWrite, reason: str, keep: int) -> ConfigBackupsRow:
    """Back up the configuration a config write is about to change."""
    return await save_backup(write.tx, reason, write.base, write.actor.name, keep)
