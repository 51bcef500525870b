"""Per-table DAO statements, built as expressions and rendered per dialect.

Every statement a table's DAO runs is fixed here at codegen time. `list`,
`count` and `delete_where` join a prefix and fixed fragments (a filter on one
column, an order, a page clause) at run time; the SQLite batched upsert
repeats a fixed VALUES row between a fixed head and tail. Values are always
bound parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from codegen.dialects.base import Dialect
from codegen.model import Column, Table

__all__ = ("TableSql", "field_order", "table_sql")


@dataclass(frozen=True, slots=True)
class TableSql:
    """Rendered statements of one table in one dialect."""

    select: str  # SELECT <fields> FROM t — the prefix of get/list
    get: str
    count: str  # SELECT COUNT(*) FROM t — the prefix of count
    insert: str  # every field, RETURNING every field
    insert_auto: str | None  # without the autoincrement id
    bulk: str  # plain INSERT, or COPY … FROM STDIN
    bulk_auto: str | None
    upserts: dict[str, str]  # conflict key (comma-joined columns) -> statement
    upserts_many: dict[str, str]  # the same without RETURNING, for executemany
    # Per conflict key: the upsert of many rows as (head, VALUES row, tail, rows a statement)
    upsert_batches: dict[str, tuple[str, str, str, int]]
    ignore_many: str  # every column, ON CONFLICT DO NOTHING
    stage: tuple[str, ...]  # COPY path of ignore_many: create, copy, merge, drop (empty: none)
    row_ranges: tuple[str, str]  # first and last part, then the select of a range of parts
    update: str | None  # None when every column is in the key
    delete: str
    delete_prefix: str  # DELETE FROM t — the prefix of delete_where and clear
    # Fragments list/count/delete_where append to their prefix, fixed here:
    filter_eq: dict[str, str]  # column -> " WHERE c = ?"
    filter_null: dict[str, str]  # column -> " WHERE c IS NULL"
    order: dict[str, str]  # column -> " ORDER BY c, <rest of the key>"
    order_desc: dict[str, str]  # the same, each term DESC
    page: tuple[str, str, str, str]  # no limit, LIMIT, OFFSET, LIMIT and OFFSET


def field_order(table: Table) -> tuple[Column, ...]:
    """Return columns as dataclass fields: required ones first."""
    required = [c for c in table.columns if c.required]
    return tuple(required + [c for c in table.columns if not c.required])


def table_sql(table: Table, d: Dialect) -> TableSql:
    """Render every statement of a table's DAO for one dialect."""
    fields = field_order(table)
    names = [c.name for c in fields]
    auto = table.autoincrement
    no_auto = [n for n in names if auto is None or n != auto.name]

    def render(tree: exp.Expr) -> str:
        return d.render(tree)

    def key_match() -> exp.Expr:
        return exp.and_(*[exp.column(k).eq(exp.Placeholder()) for k in table.primary_key])

    select = exp.select(*names).from_(table.name)
    # Page fragments are rendered in a whole statement (a one-column one: cheaper to
    # copy), then cut off it; they join the real prefix the same way.
    probe = exp.select(names[0]).from_(table.name)
    ident = {n: render(exp.column(n)) for n in names}
    prefix = render(probe)

    def tail(tree: exp.Expr) -> str:
        text = render(tree)
        if not text.startswith(prefix):
            raise ValueError(f"{table.name}: {text!r} does not extend {prefix!r}")
        return text[len(prefix) :]

    def ordered(column: str, desc: bool) -> str:
        # NOTE: written out, not an exp.Ordered: sqlglot would spell out each engine's own
        # NULL order (NULLS LAST on SQLite), which no SQLite index can deliver.
        terms = [column, *(k for k in table.primary_key if k != column)]
        return " ORDER BY " + ", ".join(ident[t] + (" DESC" if desc else "") for t in terms)

    many = {
        ",".join(key): render(_upsert(table, key, names, returning=False))
        for key in table.unique_keys
    }
    limit, offset = exp.Placeholder(), exp.Placeholder()
    return TableSql(
        select=render(select),
        get=render(select.where(key_match())),
        count=render(exp.select(exp.Count(this=exp.Star())).from_(table.name)),
        insert=render(_insert(table.name, names, names)),
        insert_auto=render(_insert(table.name, no_auto, names)) if auto else None,
        bulk=_bulk(table.name, names, d),
        bulk_auto=_bulk(table.name, no_auto, d) if auto else None,
        upserts={",".join(key): render(_upsert(table, key, names)) for key in table.unique_keys},
        upserts_many=many,
        upsert_batches=_upsert_batches(table, many, d),
        ignore_many=render(_insert_ignore(table.name, names)),
        stage=_stage(table.name, names, d),
        row_ranges=_row_ranges(table.name, select, d),
        update=_update(table, names, d),
        delete=render(exp.delete(table.name).where(key_match())),
        delete_prefix=render(exp.delete(table.name)),
        filter_eq={n: " WHERE " + render(exp.column(n).eq(exp.Placeholder())) for n in names},
        filter_null={n: " WHERE " + render(exp.column(n).is_(exp.null())) for n in names},
        order={n: ordered(n, False) for n in names},
        order_desc={n: ordered(n, True) for n in names},
        page=(
            "",
            tail(probe.limit(limit)),
            tail(probe.offset(offset)),
            tail(probe.limit(limit).offset(offset)),
        ),
    )


def _insert(table: str, columns: list[str], returning: list[str]) -> exp.Insert:
    values = exp.values([tuple(exp.Placeholder() for _ in columns)])
    insert = exp.insert(values, table, columns=columns)
    return insert.returning(", ".join(returning))


def _bulk(table: str, columns: list[str], d: Dialect) -> str:
    if d.SUPPORTS_COPY:
        # NOTE: sqlglot has no COPY … FROM STDIN for PostgreSQL; the statement is fixed text.
        return f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    values = exp.values([tuple(exp.Placeholder() for _ in columns)])
    return d.render(exp.insert(values, table, columns=columns))


def _insert_ignore(table: str, columns: list[str]) -> exp.Insert:
    values = exp.values([tuple(exp.Placeholder() for _ in columns)])
    insert = exp.insert(values, table, columns=columns)
    insert.set("conflict", exp.OnConflict(action=exp.var("DO NOTHING")))
    return insert


def _stage(table: str, columns: list[str], d: Dialect) -> tuple[str, ...]:
    """Return COPY into a temporary table, then merge ignoring conflicts.

    COPY cannot skip rows that already exist; staging keeps its speed for
    idempotent bulk loads (dbmigrate, imports). Runs inside a transaction.
    """
    if not d.SUPPORTS_COPY:
        return ()
    stage = f"_stage_{table}"
    cols = ", ".join(columns)
    return (
        f"CREATE TEMPORARY TABLE {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP",
        f"COPY {stage} ({cols}) FROM STDIN",
        d.render(_insert_ignore_select(table, stage, columns)),
        f"DROP TABLE {stage}",
    )


def _row_ranges(table: str, select: exp.Select, d: Dialect) -> tuple[str, str]:
    """Return the bounds of a table's parts and the select of a range of them.

    A bulk copy splits a large table into ranges that several processes
    read at once, each a scan of its own pages: rowids on SQLite, heap
    blocks on PostgreSQL (a TID range scan, PostgreSQL 14 and later).
    Both statements take and give the first and last part, included.
    """
    if d.SPLIT_SCAN_BY == "rowid":
        rowid = exp.column("rowid")
        bounds = exp.select(exp.Min(this=rowid), exp.Max(this=rowid)).from_(table)
        within = select.where(rowid.between(exp.Placeholder(), exp.Placeholder()))
        return d.render(bounds), d.render(within)
    # NOTE: sqlglot has no tid arithmetic; the statements are fixed text.
    blocks = f"pg_relation_size('{table}') / current_setting('block_size')::bigint"
    block = "('(' || {} || ',0)')::tid"
    first, after = (
        block.format(f"{d.PLACEHOLDER}::bigint"),
        block.format(f"{d.PLACEHOLDER}::bigint + 1"),
    )
    return (
        f"SELECT 0, {blocks} - 1",
        f"{d.render(select)} WHERE ctid >= {first} AND ctid < {after}",
    )


def _insert_ignore_select(table: str, stage: str, columns: list[str]) -> exp.Insert:
    insert = exp.insert(exp.select(*columns).from_(stage), table, columns=columns)
    insert.set("conflict", exp.OnConflict(action=exp.var("DO NOTHING")))
    return insert


def _upsert(
    table: Table, key: tuple[str, ...], names: list[str], returning: bool = True
) -> exp.Insert:
    auto = table.autoincrement
    # The autoincrement id is inserted only when it is the conflict key itself.
    columns = [n for n in names if auto is None or n != auto.name or key == (auto.name,)]
    updates = [n for n in columns if n not in key]
    values = exp.values([tuple(exp.Placeholder() for _ in columns)])
    insert = exp.insert(values, table.name, columns=columns)
    action = "DO UPDATE" if updates else "DO NOTHING"
    conflict = exp.OnConflict(
        conflict_keys=[exp.to_identifier(k) for k in key],
        action=exp.var(action),
        expressions=[exp.column(n).eq(exp.column(n, table="excluded")) for n in updates],
    )
    insert.set("conflict", conflict)
    return insert.returning(", ".join(names)) if returning else insert


def _upsert_batches(
    table: Table, many: dict[str, str], d: Dialect
) -> dict[str, tuple[str, str, str, int]]:
    """Return, per conflict key, its upsert split around its VALUES row, and rows a statement.

    The DAO repeats that row to upsert a batch with one statement run (see
    `Dialect.BATCH_VALUES_LIMIT`).
    """
    batches: dict[str, tuple[str, str, str, int]] = {}
    for key in table.unique_keys:
        width = len(upsert_columns(table, key))
        per = d.BATCH_VALUES_LIMIT // width
        if per < 2:
            continue
        row = "(" + ", ".join([d.PLACEHOLDER] * width) + ")"
        sql = many[",".join(key)]
        if sql.count(row) != 1:
            raise ValueError(f"{table.name}: the upsert on {key} has no single VALUES row {row}")
        head, _, rest = sql.partition(row)
        batches[",".join(key)] = (head, row, rest, per)
    return batches


def _update(table: Table, names: list[str], d: Dialect) -> str | None:
    values = [n for n in names if n not in table.primary_key]
    if not values:
        return None
    update = exp.update(table.name, {n: exp.Placeholder() for n in values})
    where = exp.and_(*[exp.column(k).eq(exp.Placeholder()) for k in table.primary_key])
    return d.render(update.where(where))


def update_param_order(table: Table) -> tuple[list[str], list[str]]:
    """Return (SET columns, key columns) in the order the UPDATE binds them."""
    names = [c.name for c in field_order(table)]
    return [n for n in names if n not in table.primary_key], list(table.primary_key)


def upsert_columns(table: Table, key: tuple[str, ...]) -> list[str]:
    """Return the columns an upsert on key binds, in order."""
    auto = table.autoincrement
    names = [c.name for c in field_order(table)]
    return [n for n in names if auto is None or n != auto.name or key == (auto.name,)]
