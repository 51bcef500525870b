"""Tables and indexes as sqlglot expressions, dialect-neutral in shape.

A dialect decides types, defaults and autoincrement; this module decides
structure. Unique columns become named unique indexes, so adding or dropping
uniqueness never needs a table rebuild.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from codegen.dialects.base import Dialect
from codegen.model import Column, Index, Table

__all__ = (
    "column_def",
    "create_index",
    "create_table",
    "drop_index",
    "insert_seed",
    "statements_for_table",
)


def column_def(col: Column, table: Table, d: Dialect) -> exp.ColumnDef:
    """Return one column definition."""
    constraints: list[exp.ColumnConstraint] = []
    if col.autoincrement:
        constraints += d.autoincrement(col)
    else:
        if table.primary_key == (col.name,):
            constraints.append(exp.ColumnConstraint(kind=exp.PrimaryKeyColumnConstraint()))
        # NOTE: SQLite lets a non-INTEGER primary key hold NULL unless told otherwise.
        if not col.nullable:
            constraints.append(exp.ColumnConstraint(kind=exp.NotNullColumnConstraint()))
        if col.has_default:
            constraints.append(
                exp.ColumnConstraint(kind=exp.DefaultColumnConstraint(this=d.default(col)))
            )
    if col.references is not None:
        constraints.append(exp.ColumnConstraint(kind=_reference(col)))
    return exp.ColumnDef(
        this=exp.to_identifier(col.name), kind=d.column_type(col), constraints=constraints
    )


def _reference(col: Column) -> exp.Reference:
    ref = col.references
    assert ref is not None
    target = exp.Schema(this=exp.to_table(ref.table), expressions=[exp.to_identifier(ref.column)])
    options = [] if ref.on_delete == "no action" else [f"ON DELETE {ref.on_delete.upper()}"]
    return exp.Reference(this=target, options=options)


def create_table(
    table: Table, d: Dialect, name: str | None = None, if_not_exists: bool = False
) -> exp.Create:
    """Return CREATE TABLE for a table (optionally under another name)."""
    items: list[exp.Expression] = [column_def(c, table, d) for c in table.columns]
    if len(table.primary_key) > 1:
        items.append(exp.PrimaryKey(expressions=[exp.to_identifier(c) for c in table.primary_key]))
    schema = exp.Schema(this=exp.to_table(name or table.name), expressions=items)
    return exp.Create(kind="TABLE", this=schema, exists=if_not_exists)


def create_index(index: Index, d: Dialect) -> exp.Create:
    """Return CREATE [UNIQUE] INDEX, with the WHERE of a partial index."""
    params = exp.IndexParameters(columns=[exp.column(c) for c in index.columns])
    predicate = index.predicate()
    if predicate is not None:
        # Neutral SQL, rewritten for the dialect as a named query is.
        params.set("where", exp.Where(this=d.rewrite(predicate)))
    target = exp.Index(
        this=exp.to_identifier(index.name), table=exp.to_table(index.table), params=params
    )
    return exp.Create(kind="INDEX", this=target, unique=index.unique)


def drop_index(name: str) -> exp.Drop:
    """Return DROP INDEX IF EXISTS."""
    # NOTE: sqlglot 30 keeps the dropped object in `tables`; a `this` is silently not rendered.
    return exp.Drop(kind="INDEX", tables=[exp.to_table(name)], exists=True)


def insert_seed(table: Table, row: dict[str, Any], d: Dialect) -> exp.Insert:
    """Return INSERT … ON CONFLICT DO NOTHING for one seed row."""
    names = [c.name for c in table.columns if c.name in row]
    values = [d.literal(table.column(n).type, row[n]) for n in names]
    insert = exp.insert(exp.values([tuple(values)]), table.name, columns=names)
    insert.set("conflict", exp.OnConflict(action=exp.var("DO NOTHING")))
    return insert


def statements_for_table(
    table: Table, d: Dialect, if_not_exists: bool = False
) -> list[exp.Expression]:
    """Return CREATE TABLE, its indexes and its seed rows."""
    out: list[exp.Expression] = [create_table(table, d, if_not_exists=if_not_exists)]
    out += [create_index(ix, d) for ix in sorted(table.indexes, key=lambda i: i.name)]
    out += [insert_seed(table, row, d) for row in table.seed]
    return out
