"""schema.lock.json vs schema.yaml -> ordered migration operations.

Operations are dialect-neutral; `render_ops` turns them into statements for
one dialect. What SQLite's ALTER TABLE cannot do becomes a table rebuild
(https://sqlite.org/lang_altertable.html#otheralter, the 12-step procedure).
Destructive steps need an explicit marker in schema.yaml; renames are
declared (`renamed_from`), never guessed. A marker acknowledges exactly the
change of the migration it produced: the lock records it (`acknowledged`); a
marker that acknowledges nothing is refused, and so is one the lock records
once a later migration is made, so it cannot let a later change through.

Every statement that removes or converts data carries a note (`NOTE` in its
`meta`), which the migration file prints as a comment above it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from sqlglot import exp

from codegen.ddl import column_def, create_index, create_table, drop_index, insert_seed
from codegen.dialects.base import Dialect
from codegen.model import Column, Index, Marker, Reference, Schema, SchemaError, Table

__all__ = ("NOTE", "Ack", "Op", "acks_of", "diff", "render_ops", "slug_for")

NOTE = "note"  # key of a statement's meta holding what data it removes or converts

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

# What a lossy type change does to values, said once for both engines.
_LOSS = {
    ("real", "integer"): "fractions are lost (PostgreSQL rounds, SQLite truncates)",
    ("real", "bigint"): "fractions are lost (PostgreSQL rounds, SQLite truncates)",
    ("bigint", "integer"): "a value beyond 32 bits fails the migration on PostgreSQL",
    ("integer", "boolean"): "PostgreSQL turns every non-zero value into true, SQLite keeps it",
    ("bigint", "boolean"): "PostgreSQL turns every non-zero value into true, SQLite keeps it",
    **{
        ("text", t): f"a text that is not a {t} fails the migration on PostgreSQL; "
        "SQLite keeps or converts it as best it can"
        for t in ("integer", "bigint", "real", "boolean", "timestamp")
    },
    ("text", "json"): "a text that is not valid JSON fails the migration",
}
_LOSS_DEFAULT = "a value the new type cannot hold is changed or fails the migration"


class Ack(NamedTuple):
    """A marker's use by one migration, as schema.lock.json records it."""

    marker: str  # destructive, renamed_from, dropped_columns, dropped_tables
    target: str  # table.column, or table
    change: str  # "real -> integer", "note -> comment", "drop"
    written: str = ""  # the marker's value as written ("true", "note", "legacy", ...)

    @property
    def key(self) -> tuple[str, str, str]:
        """Return what identifies the acknowledged change."""
        return (self.marker, self.target, self.change)

    def record(self, migration: str) -> dict[str, str]:
        """Return the lock entry tying this acknowledgement to its migration."""
        return {**self._asdict(), "migration": migration}


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
    ack: Ack | None = None  # the marker this step needed


def acks_of(ops: Iterable[Op]) -> list[Ack]:
    """Return the acknowledgements the operations used, in order."""
    return [op.ack for op in ops if op.ack is not None]


def diff(
    old: dict[str, Any] | None,
    schema: Schema,
    file: str = "schema.yaml",
    given: Iterable[Ack] = (),
) -> list[Op]:
    """Return the operations that take the locked schema to schema.

    ``given`` are acknowledgements that count as written in schema.yaml: those
    of a migration being regenerated in place, whose markers may be gone.
    Raise SchemaError for a change that needs a marker it lacks, and for a
    marker in schema.yaml that acknowledges no change.
    """
    written = schema
    schema = _with_acks(schema, given)
    old_tables = dict((old or {}).get("tables", {}))
    ops: list[Op] = []
    for table in schema.migrated_tables:
        if table.name not in old_tables and table.renamed_from in old_tables:
            ack = Ack("renamed_from", table.name, f"{table.renamed_from} -> {table.name}")
            ops.append(Op("rename_table", table.name, name=table.renamed_from, ack=ack))
            old_tables[table.name] = old_tables.pop(table.renamed_from)
    new_tables = [t for t in schema.migrated_tables if t.name not in old_tables]
    for name in sorted(set(old_tables) - {t.name for t in schema.migrated_tables}):
        if name not in schema.dropped_tables:
            raise _removed_table(name, new_tables, file)
        ops.append(Op("drop_table", name, ack=Ack("dropped_tables", name, "drop")))
    for table in schema.migrated_tables:
        if table.name in old_tables:
            ops += _diff_table(old_tables[table.name], table, file)
        else:
            ops.append(Op("create_table", table.name))
            ops += [
                Op("create_index", table.name, ix.name, index=ix) for ix in _sorted(table.indexes)
            ]
            ops += [Op("insert_seed", table.name, row=row) for row in table.seed]
    return _with_written(ops, written.markers, given, old, file)


def _with_written(
    ops: list[Op],
    markers: tuple[Marker, ...],
    given: Iterable[Ack],
    old: dict[str, Any] | None,
    file: str,
) -> list[Op]:
    """Return ops with each acknowledgement's marker value; refuse misused markers.

    A marker the lock records for the newest migration is spent: it may stay
    while nothing changes (it documents that migration) but is refused once a
    later migration is made. Any other marker must acknowledge a change now.
    """
    found = {(m.kind, m.target): m for m in markers}
    given_by_key = {g.key: g for g in given}
    out: list[Op] = []
    for op in ops:
        ack = op.ack
        if ack is not None:
            marker = found.get((ack.marker, ack.target))
            if marker is not None:
                ack = ack._replace(written=marker.value)
            elif ack.key in given_by_key:
                ack = ack._replace(written=given_by_key[ack.key].written)
            else:
                # Only a destructive acknowledgement can be given for another change
                # (a rewritten migration's real -> integer, now real -> boolean).
                assert op.column is not None
                raise SchemaError(
                    file,
                    op.column.line,
                    f"column '{ack.target}': {ack.change} may lose data; "
                    "mark the column 'destructive: true' to allow it",
                )
            op = replace(op, ack=ack)
        out.append(op)
    _refuse_spent_markers(markers, acks_of(out), old, file, changes=bool(out))
    return out


def _removed_table(name: str, new_tables: list[Table], file: str) -> SchemaError:
    message = f"table '{name}' was removed; list it under 'dropped_tables' to drop it and its data"
    if not new_tables:
        return SchemaError(file, 1, message)
    new = new_tables[0]
    return SchemaError(
        file,
        new.line,
        f"table '{name}' was removed and table '{new.name}' added: if '{new.name}' is "
        f"'{name}' renamed, add `renamed_from: {name}` to '{new.name}'; "
        f"to drop '{name}' and its data instead, list it under 'dropped_tables'",
    )


def _with_acks(schema: Schema, given: Iterable[Ack]) -> Schema:
    """Return schema with the markers of given acknowledgements put back."""
    given = list(given)
    if not given:
        return schema
    names = {t.name for t in schema.tables}
    dropped_tables = list(schema.dropped_tables)
    tables = {t.name: t for t in schema.tables}
    for ack in given:
        table_name, _, column = ack.target.partition(".")
        if ack.marker == "dropped_tables":
            if table_name not in names and table_name not in dropped_tables:
                dropped_tables.append(table_name)
            continue
        table = tables.get(table_name)
        if table is None:
            continue
        if ack.marker == "renamed_from" and not column:
            if table.renamed_from is None:
                tables[table_name] = replace(table, renamed_from=ack.change.split(" -> ")[0])
        elif ack.marker == "dropped_columns":
            declared = {c.name for c in table.columns}
            if column not in declared and column not in table.dropped_columns:
                tables[table_name] = replace(
                    table, dropped_columns=(*table.dropped_columns, column)
                )
        else:
            tables[table_name] = replace(
                table,
                columns=tuple(_with_column_ack(c, column, ack) for c in table.columns),
            )
    return replace(
        schema,
        tables=tuple(tables[t.name] for t in schema.tables),
        dropped_tables=tuple(dropped_tables),
    )


def _with_column_ack(col: Column, name: str, ack: Ack) -> Column:
    if col.name != name:
        return col
    if ack.marker == "destructive":
        return replace(col, destructive=True)
    if col.renamed_from is None:
        return replace(col, renamed_from=ack.change.split(" -> ")[0])
    return col


def _refuse_spent_markers(
    markers: Iterable[Marker],
    used: list[Ack],
    old: dict[str, Any] | None,
    file: str,
    changes: bool,
) -> None:
    """Raise SchemaError for the first marker that acknowledges nothing new."""
    needed = {(a.marker, a.target) for a in used}
    spent = {(r["marker"], r["target"], r["written"]): r for r in _ledger(old)}
    for marker in markers:
        record = spent.get((marker.kind, marker.target, marker.value))
        if record is not None and not changes:
            continue  # it documents the newest migration, which used it
        if record is not None:
            # The same column changing again: say how to acknowledge the new change.
            later = [a.change for a in used if a.key[:2] == ("destructive", marker.target)]
            again = f"; to acknowledge {later[0]}, write 'destructive: {later[0]}'" if later else ""
            raise SchemaError(
                file,
                marker.line,
                f"{marker.describe()} was used by migration {record['migration']} "
                f"({record['change']}); remove it: a marker acknowledges one migration's "
                f"change{again}",
            )
        if (marker.kind, marker.target) not in needed:
            raise SchemaError(
                file, marker.line, f"{marker.describe()} acknowledges no change; remove it"
            )


def _ledger(lock: dict[str, Any] | None) -> list[dict[str, str]]:
    """Return the lock's acknowledgements, oldest first."""
    return list((lock or {}).get("acknowledged", []))


def _diff_table(old: dict[str, Any], table: Table, file: str) -> list[Op]:
    old_cols = dict(old["columns"])
    order = list(old.get("column_order") or [])
    ops: list[Op] = []
    for col in table.columns:
        if col.name not in old_cols and col.renamed_from in old_cols:
            ack = Ack(
                "renamed_from", f"{table.name}.{col.name}", f"{col.renamed_from} -> {col.name}"
            )
            ops.append(Op("rename_column", table.name, col.name, old=col.renamed_from, ack=ack))
            old_cols[col.name] = old_cols.pop(col.renamed_from)
            order = [col.name if c == col.renamed_from else c for c in order]
    if list(old["primary_key"]) != list(table.primary_key):
        raise SchemaError(
            file, table.line, f"table '{table.name}': changing the primary key is not supported"
        )
    declared = {col.name for col in table.columns}
    added = [col for col in table.columns if col.name not in old_cols]
    index_ops = _diff_indexes(old.get("indexes", {}), table)
    # Indexes go first: SQLite's DROP COLUMN refuses an indexed column.
    ops += [op for op in index_ops if op.kind == "drop_index"]
    for name in [c for c in old_cols if c not in declared]:
        if name not in table.dropped_columns:
            raise _removed_column(table, name, old_cols[name], added, file)
        ack = Ack("dropped_columns", f"{table.name}.{name}", "drop")
        ops.append(Op("drop_column", table.name, name, ack=ack))
    if order:
        _refuse_reordering(table, [c for c in order if c in declared], file)
    for col in table.columns:
        if col.name not in old_cols:
            ops.append(_add_column(table, col, file))
        else:
            ops += _alter_column(table, col, old_cols[col.name], file)
    ops += [op for op in index_ops if op.kind == "create_index"]
    known = {_seed_key(table, r) for r in old.get("seed", [])}
    ops += [
        Op("insert_seed", table.name, row=r) for r in table.seed if _seed_key(table, r) not in known
    ]
    return ops


def _removed_column(
    table: Table, name: str, spec: dict[str, Any], added: list[Column], file: str
) -> SchemaError:
    """Return the error for a column gone without a marker, naming a likely rename."""
    if not added:
        return SchemaError(
            file,
            table.line,
            f"column '{table.name}.{name}' was removed; "
            "list it under 'dropped_columns' to drop it and its data",
        )
    new = next((c for c in added if c.type == spec["type"]), added[0])
    return SchemaError(
        file,
        new.line,
        f"column '{table.name}.{name}' was removed and '{table.name}.{new.name}' added: "
        f"if '{new.name}' is '{name}' renamed, add `renamed_from: {name}` to it "
        f"({new.name}: {{type: {new.type}, renamed_from: {name}}}); to drop '{name}' "
        "and its data instead, list it under 'dropped_columns'",
    )


def _refuse_reordering(table: Table, kept: list[str], file: str) -> None:
    """Raise SchemaError unless new columns come last and kept ones keep their order.

    ADD COLUMN appends and PostgreSQL cannot move a column, so any other order
    would differ between a migrated database and one made from schema.sql.
    """
    declared = [c.name for c in table.columns]
    existing = [c for c in declared if c in kept]
    if existing != kept:
        moved = next(c for c, k in zip(existing, kept, strict=True) if c != k)
        raise SchemaError(
            file,
            table.column(moved).line,
            f"column '{table.name}.{moved}' moved: existing columns keep their order "
            f"({', '.join(kept)}), since a migrated database cannot reorder them",
        )
    last = declared.index(kept[-1]) if kept else -1
    for i, name in enumerate(declared[: last + 1]):
        if name not in kept:
            after = next(c for c in declared[i + 1 :] if c in kept)
            raise SchemaError(
                file,
                table.column(name).line,
                f"new column '{table.name}.{name}' is declared before existing column "
                f"'{table.name}.{after}': ADD COLUMN appends it, so a migrated "
                "database would order the columns differently from schema.sql; "
                f"declare it after '{kept[-1]}', last in the table",
            )


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
    lossy = "type" in changes and (spec["type"], col.type) not in WIDENING
    change = f"{spec['type']} -> {col.type}"
    if lossy and col.destructive_change not in (None, change):
        raise SchemaError(
            file,
            col.line,
            f"column '{table.name}.{col.name}': {change} may lose data, but the column is "
            f"marked 'destructive: {col.destructive_change}'; write 'destructive: {change}'",
        )
    if lossy and not col.destructive:
        raise SchemaError(
            file,
            col.line,
            f"column '{table.name}.{col.name}': {spec['type']} -> {col.type} may lose data; "
            "mark the column 'destructive: true' to allow it",
        )
    target = f"{table.name}.{col.name}"
    ack = Ack("destructive", target, change) if lossy else None
    return (
        [
            Op(
                "alter_column",
                table.name,
                col.name,
                column=col,
                changes=changes,
                old_spec=spec,
                ack=ack,
            )
        ]
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
    """Return one dialect's statements for the operations, in order.

    A statement that removes or converts data has ``meta[NOTE]`` saying what.
    """
    old_tables = dict((old or {}).get("tables", {}))
    for op in ops:
        if op.kind == "rename_table":
            old_tables[op.table] = old_tables.pop(op.name)
    rebuilt = {op.table for op in ops if _needs_rebuild(op, d, old_tables.get(op.table))}
    out: list[exp.Expression] = [s for op in ops for s in _json_check(op, schema, d)]
    for op in ops:
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
        if op.kind == "alter_column" and not d.SUPPORTS_ALTER_COLUMN:
            continue  # the same column definition on this engine: nothing to do
        out += _render(op, schema, d)
    for name in sorted(rebuilt):
        out += _rebuild(schema.table(name), ops, old_tables[name], d)
        seeds = [op for op in ops if op.table == name and op.kind == "insert_seed"]
        out += [s for op in seeds for s in _render(op, schema, d)]
    return out


def _needs_rebuild(op: Op, d: Dialect, old: dict[str, Any] | None) -> bool:
    if d.SUPPORTS_ALTER_COLUMN:
        return False
    if op.kind == "alter_column":
        # integer -> bigint is INTEGER -> INTEGER on SQLite: the stored values already fit.
        assert op.column is not None and old is not None
        table_stub = Table(op.table, (), ())
        was = column_def(_column_from_spec(op.name, op.old_spec), table_stub, d)
        return d.render(was) != d.render(column_def(op.column, table_stub, d))
    if op.kind == "drop_column":
        assert old is not None
        return not _droppable(op.name, old)
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


def _droppable(name: str, old: dict[str, Any]) -> bool:
    """Return whether SQLite's ALTER TABLE DROP COLUMN can drop a column.

    It refuses a key or foreign key column, and an indexed one
    (https://sqlite.org/lang_altertable.html#altertabdropcol); the indexes
    of a dropped column are dropped before it in the same migration, unique
    columns are indexes here, and a foreign key's target is a key.
    """
    return name not in old["primary_key"] and "references" not in old["columns"][name]


def _column_from_spec(name: str, spec: dict[str, Any]) -> Column:
    """Return a column as the lock describes it."""
    ref = spec.get("references")
    return Column(
        name=name,
        type=spec["type"],
        nullable=spec["nullable"],
        has_default="default" in spec,
        default=spec.get("default"),
        autoincrement=spec.get("autoincrement", False),
        references=None
        if ref is None
        else Reference(ref["table"], ref["column"], ref["on_delete"]),
    )


def _json_check(op: Op, schema: Schema, d: Dialect) -> list[exp.Expression]:
    """Return a check that every text becoming json parses, where nothing casts it.

    SQLite stores json as TEXT, so text -> json changes no value and invalid
    JSON would only fail on read. The runner fails a migration on any row an
    SQLite statement returns; PostgreSQL's CAST(… AS JSONB) fails by itself.
    """
    if op.kind != "alter_column" or op.old_spec.get("type") != "text":
        return []
    col = op.column
    if col is None or col.type != "json" or d.TYPE_MAPPING["json"] != d.TYPE_MAPPING["text"]:
        return []
    table = op.table
    invalid = exp.Not(this=exp.Anonymous(this="json_valid", expressions=[exp.column(col.name)]))
    # The keys of failing rows, never their values: the runner's error shows what returns.
    keys = [exp.column(k) for k in schema.table(table).primary_key]
    check = exp.select(*keys).from_(table).where(invalid).limit(3)
    note = f"CHECK: fails the migration if a {table}.{col.name} is not valid JSON"
    return [_noted(check, note)]


def _noted(statement: exp.Expression, note: str) -> exp.Expression:
    statement.meta[NOTE] = note
    return statement


def _loss(old_type: str, new_type: str) -> str:
    return _LOSS.get((old_type, new_type), _LOSS_DEFAULT)


def _render(op: Op, schema: Schema, d: Dialect) -> list[exp.Expression]:
    table = exp.to_table(op.table)
    if op.kind == "create_table":
        return [create_table(schema.table(op.table), d)]
    if op.kind == "drop_table":
        drop = exp.Drop(kind="TABLE", tables=[table])
        return [_noted(drop, f"DESTRUCTIVE: drops table {op.table} and every row in it")]
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
        statement = exp.Alter(this=table, kind="TABLE", actions=[drop])
        note = f"DESTRUCTIVE: drops column {op.table}.{op.name} and every value in it"
        return [_noted(statement, note)]
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
        statement = alter(dtype=d.column_type(col), using=using)
        was = op.old_spec["type"]
        if (was, col.type) not in WIDENING:
            note = f"LOSSY: converts {table.name}.{col.name} from {was} to {col.type}: "
            statement = _noted(statement, note + _loss(was, col.type))
        out.append(statement)
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
            out.append(_noted(fill, _backfill_note(table.name, col, d)))
        out.append(alter(allow_null=col.nullable))
    if "references" in op.changes and col.references is not None:
        out.append(_add_foreign_key(table.name, col))
    return out


def _backfill_note(table: str, col: Column, d: Dialect) -> str:
    value = d.render(d.literal(col.type, col.default))
    return f"CONVERTS: sets {table}.{col.name} to {value} where it is NULL (it becomes NOT NULL)"


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
    conversions = [n for c in kept if (n := _copy_note(table.name, c, old_cols[c.name], d))]
    if conversions:
        copy = _noted(copy, "\n".join(conversions))
    out: list[exp.Expression] = [create_table(table, d, name=temp), copy]
    if table.autoincrement is not None:
        out += _keep_sequence(table.name, temp)
    dropped = [n for n in old_cols if n not in {c.name for c in table.columns}]
    drop_note = [
        f"DESTRUCTIVE: drops column {table.name}.{n} and every value in it (not copied above)"
        for n in dropped
    ]
    drop_note.append(f"rebuild: drops the old {table.name}, whose rows were copied to {temp}")
    out += [
        _noted(exp.Drop(kind="TABLE", tables=[exp.to_table(table.name)]), "\n".join(drop_note)),
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


def _copy_note(table: str, col: Column, spec: dict[str, Any], d: Dialect) -> str:
    """Return what copying a column into its rebuilt table converts, or ''."""
    notes = []
    if spec["type"] != col.type and (spec["type"], col.type) not in WIDENING:
        notes.append(
            f"LOSSY: converts {table}.{col.name} from {spec['type']} to {col.type}: "
            + _loss(spec["type"], col.type)
        )
    if spec["nullable"] and not col.nullable and col.has_default:
        notes.append(_backfill_note(table, col, d))
    return "\n".join(notes)


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
