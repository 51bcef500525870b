"""Drop a table's non-unique indexes before a bulk load, rebuild them after.

PERF(legacy): keeping ten b-trees of request_logs up to date row by row
costs several times the load itself; one sorted build per index after
the load costs far less. Only an empty table loses its indexes. Both
engines' DDL is transactional: dropped and rebuilt inside one
transaction (an import), the schema is never seen without them; across
commits (a dbmigrate copy), :func:`rebuild_missing` at the end of every
table's copy, a resumed one included, puts back whatever a killed run
left out.
"""

from __future__ import annotations

from ccbridge.legacy.copy_sql import secondary_indexes
from generated.dao import Daos

__all__ = ("drop_secondary", "rebuild_missing")


async def drop_secondary(daos: Daos, table: str) -> None:
    """Drop the table's non-unique indexes (in the caller's transaction)."""
    for ddl in secondary_indexes(daos.executor.dialect, table).values():
        await daos.executor.execute(ddl.drop)


async def rebuild_missing(daos: Daos, table: str) -> list[str]:
    """Create the table's non-unique indexes that are missing; return them."""
    live = {i.index_name for i in await daos.catalog.indexes() if i.table_name == table}
    created = []
    for name, ddl in secondary_indexes(daos.executor.dialect, table).items():
        if name not in live:
            await daos.executor.execute(ddl.create)
            created.append(name)
    return created
