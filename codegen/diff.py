"""schema.lock.json vs schema.yaml -> ordered migration operations.

Operations are dialect-neutral; `render_ops` turns them into statements for
one dialect. What SQLite's ALTER TABLE cannot do becomes a table rebuild
(https://sqlite.org/lang_altertable.html#otheralter, the 12-step procedure).
Destructive steps need an explicit marker in schema.yaml; renames are
declared (`renamed_from`), never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from codegen.ddl import column_def, create_index, create_table, drop_index, insert_seed
from codegen.dialects.base import Dialect
from codegen.model import Column, Index, Schema, SchemaError, Table

__all__ = ("Op", "diff", "render_ops", "slug_for")

# Type changes that keep every value; anything else needs `destructive: true`.
WIDENING = {
    ("integer", "bigint"),
    ("integer", "real"),
    ("bigint", "real"),
    ("boolean", "integer"),
    ("boolean", "bigint"),
    ("json", "text"),
    ("timestamp", "text"),
    ("integer", "text"),
    ("bigint", "text"),
    ("real", "text"),
    ("boolean", "text"),
}


@dataclass(frozen=True)
class Op:
    """One migration step on one table."""

    kind: str  # create_table drop_table rename_table add_column drop_column rename_column
    # alter_column create_index drop_index insert_seed
    table: str
    name: str = ""  # column or index name, or the old table name for rename_table
    old: str = ""  # old column name (rename_column)
    column: Column | None = None
    index: Index | None = None
    row: dict[str, Any] = field(default_factory=dict)
    changes: tuple[str, ...] = ()  # alter_column: type, default, nullable, references
    old_spec: dict[str, Any] = field(default_factory=dict)


def diff(old: dict[str, Any] | None, schema: Schema, file: str = "schema.yaml") -> list[Op]:
    """Return the operations that take the locked schema to schema."""
    old_tables = dict((old or {}).get("tables", {}))
    ops: list[Op] = []
    for table in schema.migrated_tables:
        if table.name not in old_tables and table.renamed_from in old_tables:
            ops.append(Op("rename_table", table.name, name=table.renamed_from))
            old_tables[table.name] = old_tables.pop(table.renamed_from)
    for name in sorted(set(old_tables) - {t.name for t in schema.migrated_tables}):
        if name not in schema.dropped_tables:
            raise SchemaError(
                file,
                1,
                f"table '{name}' was removed; "
                "list it under 'dropped_tables' to drop it and its data",
            )
        ops.append(Op("drop_table", name))
    for table in schema.migrated_tables:
        if table.name in old_tables:
            ops += _diff_table(old_tables[table.name], table, file)
        else:
            ops.append(Op("create_table", table.name))
            ops += [
                Op("create_index", table.name, ix.name, index=ix) for ix in _sorted(table.indexes)
            ]
            ops += [Op("insert_seed", table.name, row=row) for row in table.seed]
    return ops


def _diff_table(old: dict[str, Any], table: Table, file: str) -> list[Op]:
    old_cols = dict(old["columns"])
    ops: list[Op] = []
    for col in table.columns:
        if col.name not in old_cols and col.renamed_from in old_cols:
            ops.append(Op("rename_column", table.name, col.name, old=col.renamed_from))
            old_cols[col.name] = old_cols.pop(col.renamed_from)
    if list(old["primary_key"]) != list(table.primary_key):
        raise SchemaError(
            file, table.line, f"table '{table.name}': changing the primary key is not supported"
        )
    for name in [c for c in old_cols if c not in {col.name for col in table.columns}]:
        if name not in table.dropped_columns:
            raise SchemaError(
                file,
                table.line,
                f"column '{table.name}.{name}' was removed; "
                "list it under 'dropped_columns' to drop it and its data",
            )
        ops.append(Op("drop_column", table.name, name))
    for col in table.columns:
        if col.name not in old_cols:
            ops.append(_add_column(table, col, file))
        else:
            ops += _alter_column(table, col, old_cols[col.name], file)
    ops += _diff_indexes(old.get("indexes", {}), table)
    known = {_seed_key(table, r) for r in old.get("seed", [])}
    ops += [
        Op("insert_seed", table.name, row=r) for r in table.seed if _seed_key(table, r) not in known
    ]
    return ops


def _add_column(table: Table, col: Column, file: str) -> Op:
    if col.required:
        raise SchemaError(
            file,
            col.line,
            f"new column '{table.name}.{col.name}' is NOT NULL without a default; give it one",
        )
    if col.autoincrement:
        raise SchemaError(
            file, col.line, f"cannot add autoincrement column '{table.name}.{col.name}'"
        )
    return Op("add_column", table.name, col.name, column=col)


def _alter_column(table: Table, col: Column, spec: dict[str, Any], file: str) -> list[Op]:
    new = col.lock()
    changes = tuple(
        key
        for key, present in (
            ("type", spec["type"] != new["type"]),
            (
                "default",
                ("default" in spec, spec.get("default")) != ("default" in new, new.get("default")),
            ),
            ("nullable", spec["nullable"] != new["nullable"]),
            ("references", spec.get("references") != new.get("references")),
        )
        if present
    )
    if spec.get("autoincrement", False) != col.autoincrement:
        raise SchemaError(
            file, col.line, f"column '{table.name}.{col.name}': autoincrement cannot change"
        )
    if "type" in changes and (spec["type"], col.type) not in WIDENING and not col.destructive:
        raise SchemaError(
            file,
            col.line,
            f"column '{table.name}.{col.name}': {spec['type']} -> {col.type} may lose data; "
            "mark the column 'destructive: true' to allow it",
        )
    return (
        [Op("alter_column", table.name, col.name, column=col, changes=changes, old_spec=spec)]
        if changes
        else []
    )


def _diff_indexes(old: dict[str, Any], table: Table) -> list[Op]:
    new = {ix.name: ix for ix in table.indexes}
    ops = [
        Op("drop_index", table.name, name)
        for name in sorted(old)
        if name not in new or new[name].lock() != old[name]
    ]
    ops += [
        Op("create_index", table.name, ix.name, index=ix)
        for ix in _sorted(table.indexes)
        if ix.name not in old or ix.lock() != old[ix.name]
    ]
    return ops


def _seed_key(table: Table, row: dict[str, Any]) -> tuple:
    return tuple(row.get(c) for c in table.primary_key)


def _sorted(indexes: tuple[Index, ...]) -> list[Index]:
    return sorted(indexes, key=lambda i: i.name)


def slug_for(ops: list[Op], first: bool) -> str:
    """Name a migration after what it does."""
    if first:
        return "initial"
    verbs = {
        "create_table": "create_{t}",
        "drop_table": "drop_{t}",
        "rename_table": "rename_{n}_to_{t}",
        "add_column": "add_{t}_{n}",
        "drop_column": "drop_{t}_{n}",
        "rename_column": "rename_{t}_{o}",
        "alter_column": "alter_{t}_{n}",
        "create_index": "index_{n}",
        "drop_index": "drop_{n}",
        "insert_seed": "seed_{t}",
    }
    op = ops[0]
    slug = verbs[op.kind].format(t=op.table, n=op.name, o=op.old)
    return (slug + ("_and_more" if len(ops) > 1 else ""))[:60]


def render_ops(
    ops: list[Op], schema: Schema, old: dict[str, Any] | None, d: Dialect
) -> list[exp.Expression]:
    """Return one dialect's statements for the operations, in order."""
    old_tables = dict((old or {}).get("tables", {}))
    rebuilt = {op.table for op in ops if _needs_rebuild(op, d)}
    out: list[exp.Expression] = []
    for op in ops:
        if op.kind == "rename_table":
            old_tables[op.table] = old_tables.pop(op.name)
        if op.table in rebuilt and op.kind in (
            "drop_column",
            "add_column",
            "alter_column",
            "create_index",
            "drop_index",
        ):
            continue  # the rebuild below covers them
        if op.table in rebuilt and op.kind == "insert_seed":
            continue  # a new seed row may name a column only the rebuilt table has
        out += _render(op, schema, d)
    for name in sorted(rebuilt):
        out += _rebuild(schema.table(name), ops, old_tables[name], d)
        seeds = [op for op in ops if op.table == name and op.kind == "insert_seed"]
        out += [s for op in seeds for s in _render(op, schema, d)]
    return out


def _needs_rebuild(op: Op, d: Dialect) -> bool:
    if d.SUPPORTS_ALTER_COLUMN:
        return False
    if op.kind in ("alter_column", "drop_column"):
        return True
    if op.kind == "add_column":
        # https://sqlite.org/lang_altertable.html#altertabaddcol: no expression default,
        # and a REFERENCES column must default to NULL.
        col = op.column
        assert col is not None
        expr_default = (
            col.has_default and col.type == "timestamp" and not d.SUPPORTS_ADD_COLUMN_EXPR_DEFAULT
        )
        return expr_default or (col.references is not None and col.default is not None)
    return False


def _render(op: Op, schema: Schema, d: Dialect) -> list[exp.Expression]:
    table = exp.to_table(op.table)
    if op.kind == "create_table":
        return [create_table(schema.table(op.table), d)]
    if op.kind == "drop_table":
        return [exp.Drop(kind="TABLE", tables=[table])]
    if op.kind == "rename_table":
        return [
            exp.Alter(
                this=exp.to_table(op.name), kind="TABLE", actions=[exp.AlterRename(this=table)]
            )
        ]
    if op.kind == "rename_column":
        rename = exp.RenameColumn(this=exp.column(op.old), to=exp.column(op.name))
        return [exp.Alter(this=table, kind="TABLE", actions=[rename])]
    if op.kind == "add_column":
        assert op.column is not None
        coldef = column_def(op.column, schema.table(op.table), d)
        return [exp.Alter(this=table, kind="TABLE", actions=[coldef])]
    if op.kind == "drop_column":
        drop = exp.Drop(kind="COLUMN", tables=[exp.column(op.name)])
        return [exp.Alter(this=table, kind="TABLE", actions=[drop])]
    if op.kind == "alter_column":
        return _alter_statements(op, schema.table(op.table), d)
    if op.kind == "create_index":
        assert op.index is not None
        return [create_index(op.index, d)]
    if op.kind == "drop_index":
        return [drop_index(op.name)]
    if op.kind == "insert_seed":
        return [insert_seed(schema.table(op.table), op.row, d)]
    raise ValueError(op.kind)


def _alter_statements(op: Op, table: Table, d: Dialect) -> list[exp.Expression]:
    col = op.column
    assert col is not None
    target = exp.to_table(table.name)
    out: list[exp.Expression] = []

    def alter(**args: Any) -> exp.Alter:
        action = exp.AlterColumn(this=exp.to_identifier(col.name), **args)
        return exp.Alter(this=target.copy(), kind="TABLE", actions=[action])

    if "references" in op.changes:
        out.append(_drop_constraint(table.name, f"{table.name}_{col.name}_fkey"))
    # NOTE: SET DATA TYPE also casts the old default and fails when no implicit cast
    # exists (boolean -> integer), so drop it first and set the new one after:
    # https://www.postgresql.org/docs/15/sql-altertable.html (SET DATA TYPE, Notes).
    reset = "type" in op.changes and "default" in op.old_spec
    if reset:
        out.append(alter(drop=True, kind=exp.var("DEFAULT")))
    if "type" in op.changes:
        using = exp.Cast(this=exp.column(col.name), to=d.column_type(col))
        out.append(alter(dtype=d.column_type(col), using=using))
    if col.has_default and ("default" in op.changes or reset):
        out.append(alter(default=d.default(col)))
    elif "default" in op.changes and not reset:
        out.append(alter(drop=True, kind=exp.var("DEFAULT")))
    if "nullable" in op.changes:
        if not col.nullable and col.has_default:
            fill = exp.update(
                table.name,
                {col.name: d.literal(col.type, col.default)},
                where=exp.column(col.name).is_(exp.null()),
            )
            out.append(fill)
        out.append(alter(allow_null=col.nullable))
    if "references" in op.changes and col.references is not None:
        out.append(_add_foreign_key(table.name, col))
    return out


def _drop_constraint(table: str, name: str) -> exp.Expression:
    return exp.Alter(
        this=exp.to_table(table),
        kind="TABLE",
        actions=[exp.Drop(kind="CONSTRAINT", tables=[exp.to_identifier(name)], exists=True)],
    )


def _add_foreign_key(table: str, col: Column) -> exp.Expression:
    ref = col.references
    assert ref is not None
    options = [] if ref.on_delete == "no action" else [f"ON DELETE {ref.on_delete.upper()}"]
    fk = exp.ForeignKey(
        expressions=[exp.to_identifier(col.name)],
        reference=exp.Reference(
            this=exp.Schema(
                this=exp.to_table(ref.table), expressions=[exp.to_identifier(ref.column)]
            ),
            options=options,
        ),
    )
    constraint = exp.Constraint(
        this=exp.to_identifier(f"{table}_{col.name}_fkey"), expressions=[fk]
    )
    return exp.Alter(
        this=exp.to_table(table),
        kind="TABLE",
        actions=[exp.AddConstraint(expressions=[constraint])],
    )


def _rebuild(table: Table, ops: list[Op], old: dict[str, Any], d: Dialect) -> list[exp.Expression]:
    """Return SQLite's table rebuild: new table, copy, drop, rename, indexes, check."""
    temp = f"_new_{table.name}"
    old_cols = dict(old["columns"])
    for op in ops:  # renames were applied with ALTER TABLE before the rebuild
        if op.table == table.name and op.kind == "rename_column":
            old_cols[op.name] = old_cols.pop(op.old)
    kept = [c for c in table.columns if c.name in old_cols]
    select = exp.select(*[_copy_expr(c, old_cols[c.name], d) for c in kept]).from_(table.name)
    copy = exp.insert(select, temp, columns=[c.name for c in kept])
    out: list[exp.Expression] = [create_table(table, d, name=temp), copy]
    if table.autoincrement is not None:
        out += _keep_sequence(table.name, temp)
    out += [
        exp.Drop(kind="TABLE", tables=[exp.to_table(table.name)]),
        exp.Alter(
            this=exp.to_table(temp),
            kind="TABLE",
            actions=[exp.AlterRename(this=exp.to_table(table.name))],
        ),
    ]
    out += [create_index(ix, d) for ix in _sorted(table.indexes)]
    out.append(
        exp.Pragma(
            this=exp.Anonymous(
                this="foreign_key_check", expressions=[exp.to_identifier(table.name)]
            )
        )
    )
    return out


def _keep_sequence(table: str, temp: str) -> list[exp.Expression]:
    """Carry an AUTOINCREMENT table's counter over to its rebuilt copy.

    The copy's counter would restart at MAX(id), reusing the ids of deleted
    rows; sqlite_sequence may be edited (https://sqlite.org/autoinc.html).
    """
    name = exp.column("name")
    old_seq = exp.select(exp.Literal.string(temp), "seq").from_("sqlite_sequence")
    old_seq = old_seq.where(name.eq(exp.Literal.string(table)))
    return [
        exp.delete("sqlite_sequence", where=name.eq(exp.Literal.string(temp))),
        exp.insert(old_seq, "sqlite_sequence", columns=["name", "seq"]),
    ]


def _copy_expr(col: Column, spec: dict[str, Any], d: Dialect) -> exp.Expression:
    value: exp.Expression = exp.column(col.name)
    if spec["type"] != col.type:
        value = exp.Cast(this=value, to=d.column_type(col))
    if spec["nullable"] and not col.nullable and col.has_default:
        value = exp.Coalesce(this=value, expressions=[d.literal(col.type, col.default)])
    return value
