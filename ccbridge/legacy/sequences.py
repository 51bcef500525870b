"""Identity sequences after rows were written with explicit ids.

PostgreSQL identity columns do not advance when a row brings its own id
(a copied or imported ``api_keys.id``), so the next generated id would
collide. SQLite needs nothing: AUTOINCREMENT follows the largest id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from typing import Final

from ccbridge.db.migrate import generated_root
from generated.dao import Daos

__all__ = ("auto_id_tables", "sync_id_sequences")

_QUERY: Final = "sync_id_sequence"


@cache
def auto_id_tables() -> frozenset[str]:
    """Return the tables with an autoincrement column (schema.lock.json)."""
    lock = json.loads((generated_root() / "schema.lock.json").read_text(encoding="utf-8"))
    return frozenset(
        name
        for name, table in lock["tables"].items()
        if any(c.get("autoincrement") for c in table["columns"].values())
    )


async def sync_id_sequences(daos: Daos, tables: Iterable[str]) -> None:
    """Move identity sequences past the highest id, on PostgreSQL.

    Args:
        daos: DAOs of the transaction that wrote the rows.
        tables: Tables written; those without an autoincrement id are
            ignored. Each autoincrement table has a generated
            ``<table>.sync_id_sequence`` query (schema.yaml).
    """
    if daos.executor.dialect != "postgres":
        return
    for table in sorted(auto_id_tables().intersection(tables)):
        await getattr(getattr(daos, table), _QUERY)()
