"""schema.yaml as a typed, validated, immutable model.

Every check runs before any file is written, and every error names
``schema.yaml:LINE`` and the offending key.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from codegen.reserved import RESERVED
from codegen.yamlsrc import Located, SchemaError, load

__all__ = (
    "DIALECTS",
    "NEUTRAL_SQL",
    "NOW",
    "TYPES",
    "Column",
    "Index",
    "Marker",
    "Query",
    "Reference",
    "Schema",
    "SchemaError",
    "Table",
    "load_schema",
    "parse_schema",
)

TYPES = ("integer", "bigint", "real", "text", "boolean", "timestamp", "json", "blob")
DIALECTS = ("sqlite", "postgres")
NOW = "now"  # the one non-literal default: the current time
NEUTRAL_SQL = "postgres"  # the sqlglot reader of SQL written once for every dialect
QUERY_KINDS = ("one", "many", "exec", "scalar")
ON_DELETE = ("cascade", "set null", "restrict", "no action")

KeyPath = tuple[Any, ...]  # where a value sits in schema.yaml: keys and list indexes

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
_CHANGE = re.compile(r"^[a-z]+ -> [a-z]+$")
_TABLE_KEYS = frozenset(
    (
        "columns",
        "indexes",
        "primary_key",
        "seed",
        "doc",
        "bootstrap",
        "renamed_from",
        "dropped_columns",
    )
)
_COLUMN_KEYS = frozenset(
    (
        "type",
        "nullable",
        "default",
        "primary_key",
        "autoincrement",
        "unique",
        "references",
        "renamed_from",
        "destructive",
        "doc",
    )
)
_QUERY_KEYS = frozenset(("sql", "params", "returns", "kind", "doc", "dialects", "raw"))
_INDEX_KEYS = frozenset(("columns", "unique", "where"))
# Roots of a predicate that is boolean whatever its operands (a bare column is when boolean).
_BOOLEAN_ROOTS = (exp.Predicate, exp.Connector, exp.Not, exp.Boolean)
# Not deterministic: SQLite creates such an index on an empty table, then fails every insert.
_VOLATILE = (exp.CurrentTimestamp, exp.CurrentDate, exp.CurrentTime, exp.Localtimestamp, exp.Rand)


@dataclass(frozen=True, slots=True)
class Marker:
    """One acknowledgement in schema.yaml, which the next migration uses up.

    ``kind`` is the key (``destructive``, ``renamed_from``, ``dropped_columns``,
    ``dropped_tables``); ``target`` what it marks: ``table.column`` for column
    markers and ``dropped_columns`` entries, the table name otherwise.
    """

    kind: str
    target: str
    value: str  # as written: "true", the old name, or the dropped name
    line: int

    def describe(self) -> str:
        """Return the marker as a reader finds it in schema.yaml."""
        table, _, column = self.target.partition(".")
        if self.kind == "destructive":
            return f"'destructive: {self.value}' on column '{self.target}'"
        if self.kind == "renamed_from":
            what = f"column '{self.target}'" if column else f"table '{self.target}'"
            return f"'renamed_from: {self.value}' on {what}"
        if self.kind == "dropped_columns":
            return f"'dropped_columns' entry '{column}' of table '{table}'"
        return f"'dropped_tables' entry '{self.target}'"


@dataclass(frozen=True, slots=True)
class Reference:
    """A foreign key from one column to another table's column."""

    table: str
    column: str
    on_delete: str = "no action"


@dataclass(frozen=True, slots=True)
class Column:
    """One column with its portable type and constraints."""

    name: str
    type: str
    nullable: bool = True
    has_default: bool = False
    default: Any = None
    primary_key: bool = False
    autoincrement: bool = False
    unique: bool = False
    references: Reference | None = None
    renamed_from: str | None = None
    destructive: bool = False
    # `destructive: "real -> integer"`: acknowledges that change only.
    destructive_change: str | None = None
    doc: str | None = None
    line: int = 0

    @property
    def required(self) -> bool:
        """Whether an insert must supply a value."""
        return not self.nullable and not self.has_default and not self.autoincrement

    def lock(self) -> dict[str, Any]:
        """Return the migration-relevant facts, for schema.lock.json."""
        out: dict[str, Any] = {"type": self.type, "nullable": self.nullable}
        if self.has_default:
            out["default"] = self.default
        if self.autoincrement:
            out["autoincrement"] = True
        if self.references:
            ref = self.references
            out["references"] = {
                "table": ref.table,
                "column": ref.column,
                "on_delete": ref.on_delete,
            }
        return out


@dataclass(frozen=True, slots=True)
class Index:
    """A named (possibly unique, possibly partial) index over columns of one table."""

    name: str
    table: str
    columns: tuple[str, ...]
    unique: bool = False
    where: str | None = None  # neutral SQL predicate of a partial index, as written
    line: int = 0

    def predicate(self) -> exp.Expr | None:
        """Return the parsed `where` (None for a full index)."""
        return None if self.where is None else sqlglot.parse_one(self.where, read=NEUTRAL_SQL)

    def lock(self) -> dict[str, Any]:
        """Return the facts that define the index, for schema.lock.json."""
        out: dict[str, Any] = {"columns": list(self.columns), "unique": self.unique}
        # Only when set: the lock entries of full indexes stay as they were.
        if self.where is not None:
            out["where"] = self.where
        return out


@dataclass(frozen=True, slots=True)
class Table:
    """A table: columns in declaration order, key, indexes, seed rows."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[Index, ...] = ()
    seed: tuple[dict[str, Any], ...] = ()
    bootstrap: bool = False
    renamed_from: str | None = None
    dropped_columns: tuple[str, ...] = ()
    doc: str | None = None
    line: int = 0

    def column(self, name: str) -> Column:
        """Return the column called name."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def autoincrement(self) -> Column | None:
        """Return the autoincrement column, if any."""
        return next((c for c in self.columns if c.autoincrement), None)

    @property
    def unique_keys(self) -> tuple[tuple[str, ...], ...]:
        """Return the primary key and every unique index's columns."""
        keys = [self.primary_key] if self.primary_key else []
        keys += [ix.columns for ix in self.indexes if ix.unique and ix.columns not in keys]
        return tuple(keys)

    def lock(self) -> dict[str, Any]:
        """Return the migration-relevant facts, for schema.lock.json."""
        return {
            "columns": {c.name: c.lock() for c in self.columns},
            # The lock's JSON sorts keys; a new column must come after these (see diff.py).
            "column_order": [c.name for c in self.columns],
            "primary_key": list(self.primary_key),
            "indexes": {ix.name: ix.lock() for ix in sorted(self.indexes, key=lambda i: i.name)},
            "seed": [dict(sorted(row.items())) for row in self.seed],
        }


@dataclass(frozen=True, slots=True)
class Query:
    """A named query written once in neutral SQL (or per dialect)."""

    name: str
    owner: str  # the part before the dot: a table name or a query group
    method: str  # the part after the dot
    kind: str
    sql: str | None  # neutral SQL, transpiled per dialect
    sql_by_dialect: dict[str, str] = field(default_factory=dict)
    params: tuple[tuple[str, str], ...] = ()
    optional: tuple[str, ...] = ()  # parameters declared `type | null`: they take None
    returns: tuple[tuple[str, str], ...] | str | None = None  # columns, or a table name
    dialects: tuple[str, ...] = DIALECTS
    raw: bool = False  # passed through verbatim: for statements sqlglot cannot parse
    doc: str | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class Schema:
    """The whole schema: tables in declaration order and named queries."""

    tables: tuple[Table, ...]
    queries: tuple[Query, ...] = ()
    dropped_tables: tuple[str, ...] = ()
    source_hash: str = ""
    markers: tuple[Marker, ...] = ()  # every acknowledgement written in the file

    def table(self, name: str) -> Table:
        """Return the table called name."""
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)

    @property
    def migrated_tables(self) -> tuple[Table, ...]:
        """Return the tables that migrations create (not bootstrap ones)."""
        return tuple(t for t in self.tables if not t.bootstrap)

    def lock(self) -> dict[str, Any]:
        """Return what the next migration diff compares against."""
        return {"tables": {t.name: t.lock() for t in self.migrated_tables}}


def load_schema(path: Path) -> Schema:
    """Read and validate a schema file."""
    text = path.read_text(encoding="utf-8")
    return parse_schema(text, path.name)


def parse_schema(text: str, file: str = "schema.yaml") -> Schema:
    """Parse and validate schema text; raise SchemaError on the first fault."""
    src = load(text, file)
    root = src.data
    if not isinstance(root, dict):
        raise src.error((), "the top level must be a mapping with a 'tables' key")
    _check_keys(src, (), root, frozenset(("tables", "queries", "dropped_tables")))
    tables_raw = root.get("tables")
    if not isinstance(tables_raw, dict) or not tables_raw:
        raise src.error(("tables",), "'tables' must be a non-empty mapping")
    tables = tuple(_parse_table(src, name, spec) for name, spec in tables_raw.items())
    _check_references(src, tables)
    queries_raw = root.get("queries") or {}
    if not isinstance(queries_raw, dict):
        raise src.error(("queries",), "'queries' must be a mapping")
    queries = tuple(_parse_query(src, name, spec) for name, spec in queries_raw.items())
    dropped = tuple(_str_list(src, ("dropped_tables",), root.get("dropped_tables") or []))
    for name in dropped:
        if name in tables_raw:
            raise src.error(
                ("dropped_tables",), f"table '{name}' is marked dropped but still declared"
            )
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Schema(
        tables=tables,
        queries=queries,
        dropped_tables=dropped,
        source_hash=digest,
        markers=_markers(src, tables, dropped),
    )


def _markers(
    src: Located, tables: tuple[Table, ...], dropped: tuple[str, ...]
) -> tuple[Marker, ...]:
    """Return every acknowledgement marker with the line of its key."""
    out: list[Marker] = []
    for t in tables:
        path = ("tables", t.name)
        if t.renamed_from is not None:
            out.append(
                Marker("renamed_from", t.name, t.renamed_from, src.line(*path, "renamed_from"))
            )
        for i, name in enumerate(t.dropped_columns):
            line = src.line(*path, "dropped_columns", i)
            out.append(Marker("dropped_columns", f"{t.name}.{name}", name, line))
        for c in t.columns:
            cpath = (*path, "columns", c.name)
            target = f"{t.name}.{c.name}"
            if c.renamed_from is not None:
                line = src.line(*cpath, "renamed_from")
                out.append(Marker("renamed_from", target, c.renamed_from, line))
            if c.destructive:
                value = c.destructive_change or "true"
                out.append(Marker("destructive", target, value, src.line(*cpath, "destructive")))
    for i, name in enumerate(dropped):
        out.append(Marker("dropped_tables", name, name, src.line("dropped_tables", i)))
    return tuple(out)


def _parse_table(src: Located, name: str, spec: Any) -> Table:
    path = ("tables", name)
    _check_ident(src, path, name, "table")
    if not isinstance(spec, dict):
        raise src.error(path, f"table '{name}' must be a mapping")
    _check_keys(src, path, spec, _TABLE_KEYS)
    cols_raw = spec.get("columns")
    if not isinstance(cols_raw, dict) or not cols_raw:
        raise src.error((*path, "columns"), f"table '{name}' needs a non-empty 'columns' mapping")
    columns = tuple(_parse_column(src, name, cname, cspec) for cname, cspec in cols_raw.items())
    names = {c.name for c in columns}
    autos = [c for c in columns if c.autoincrement]
    if len(autos) > 1:
        raise src.error(
            (*path, "columns", autos[1].name, "autoincrement"),
            f"table '{name}' has more than one autoincrement column",
        )
    primary_key = _primary_key(src, path, spec, columns)
    if not primary_key:
        # Every DAO method that takes a row's key (get, update, delete, upsert) needs one.
        raise src.error(
            path,
            f"table '{name}' has no primary key: "
            "mark a column 'primary_key: true' or list 'primary_key'",
        )
    # NOTE: a table-level key's columns are NOT NULL too; SQLite would accept NULL in
    # them (https://sqlite.org/lang_createtable.html#the_primary_key) and PostgreSQL
    # reports them NOT NULL, so the model and catalog.py must say so.
    columns = tuple(replace(c, nullable=False) if c.name in primary_key else c for c in columns)
    if autos and primary_key != (autos[0].name,):
        raise src.error(
            (*path, "columns", autos[0].name, "autoincrement"),
            f"autoincrement column '{name}.{autos[0].name}' must be the whole primary key",
        )
    indexes = _parse_indexes(src, name, spec.get("indexes") or {}, names, columns)
    seed = _parse_seed(src, path, spec.get("seed") or [], columns)
    dropped = tuple(_str_list(src, (*path, "dropped_columns"), spec.get("dropped_columns") or []))
    for col in dropped:
        if col in names:
            raise src.error(
                (*path, "dropped_columns"),
                f"column '{name}.{col}' is marked dropped but still declared",
            )
    renamed = spec.get("renamed_from")
    if renamed is not None:
        _check_ident(src, (*path, "renamed_from"), renamed, "table")
    return Table(
        name=name,
        columns=columns,
        primary_key=primary_key,
        indexes=indexes,
        seed=seed,
        bootstrap=_bool(src, (*path, "bootstrap"), spec.get("bootstrap", False)),
        renamed_from=renamed,
        dropped_columns=dropped,
        doc=spec.get("doc"),
        line=src.line(*path),
    )


def _parse_column(src: Located, table: str, name: str, spec: Any) -> Column:
    path = ("tables", table, "columns", name)
    _check_ident(src, path, name, "column")
    if not isinstance(spec, dict):
        raise src.error(path, f"column '{table}.{name}' must be a mapping with a 'type'")
    _check_keys(src, path, spec, _COLUMN_KEYS)
    ctype = spec.get("type")
    if ctype not in TYPES:
        raise src.error(
            (*path, "type"),
            f"column '{table}.{name}' has unknown type {ctype!r} "
            f"(expected one of {', '.join(TYPES)})",
        )
    flags = {
        k: _bool(src, (*path, k), spec.get(k, False))
        for k in ("primary_key", "autoincrement", "unique")
    }
    destructive = spec.get("destructive", False)
    if isinstance(destructive, str):
        if not _CHANGE.match(destructive) or not set(destructive.split(" -> ")) <= set(TYPES):
            raise src.error(
                (*path, "destructive"),
                f"'destructive' must be true or a type change such as 'real -> integer', "
                f"not {destructive!r}",
            )
    else:
        _bool(src, (*path, "destructive"), destructive)
    if flags["autoincrement"] and ctype not in ("integer", "bigint"):
        raise src.error(
            (*path, "autoincrement"),
            f"autoincrement column '{table}.{name}' must be integer or bigint",
        )
    nullable = _bool(src, (*path, "nullable"), spec.get("nullable", not flags["primary_key"]))
    if flags["primary_key"] and nullable:
        raise src.error(
            (*path, "nullable"), f"primary key column '{table}.{name}' cannot be nullable"
        )
    has_default = "default" in spec
    default = (
        _check_default(src, (*path, "default"), table, name, ctype, spec.get("default"))
        if has_default
        else None
    )
    renamed = spec.get("renamed_from")
    if renamed is not None:
        _check_ident(src, (*path, "renamed_from"), renamed, "column")
    return Column(
        name=name,
        type=ctype,
        nullable=nullable,
        has_default=has_default,
        default=default,
        primary_key=flags["primary_key"],
        autoincrement=flags["autoincrement"],
        unique=flags["unique"],
        references=_parse_reference(src, path, spec.get("references")),
        renamed_from=renamed,
        destructive=bool(destructive),
        destructive_change=destructive if isinstance(destructive, str) else None,
        doc=spec.get("doc"),
        line=src.line(*path),
    )


def _check_default(
    src: Located, path: KeyPath, table: str, col: str, ctype: str, value: Any
) -> Any:
    where = f"default of '{table}.{col}'"
    if value is None:
        return None
    checks: dict[str, Callable[[Any], bool]] = {
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "bigint": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "real": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "text": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "timestamp": lambda v: v == NOW,
        "json": lambda v: isinstance(v, (dict, list, str, int, float, bool)),
        "blob": lambda v: False,
    }
    if not checks[ctype](value):
        hint = {
            "timestamp": " (only 'now' is allowed)",
            "blob": " (blob columns take no default)",
        }.get(ctype, "")
        raise src.error(path, f"{where} is {value!r}, which is not a {ctype}{hint}")
    if ctype == "real":
        return float(value)
    return value


def _parse_reference(src: Located, path: KeyPath, spec: Any) -> Reference | None:
    if spec is None:
        return None
    rpath = (*path, "references")
    if not isinstance(spec, dict) or not {"table", "column"} <= spec.keys():
        raise src.error(rpath, "'references' needs 'table' and 'column'")
    _check_keys(src, rpath, spec, frozenset(("table", "column", "on_delete")))
    on_delete = str(spec.get("on_delete", "no action")).lower()
    if on_delete not in ON_DELETE:
        raise src.error((*rpath, "on_delete"), f"on_delete must be one of {', '.join(ON_DELETE)}")
    return Reference(table=spec["table"], column=spec["column"], on_delete=on_delete)


def _primary_key(
    src: Located, path: KeyPath, spec: dict[str, Any], columns: tuple[Column, ...]
) -> tuple[str, ...]:
    inline = tuple(c.name for c in columns if c.primary_key)
    declared = spec.get("primary_key")
    if declared is None:
        return inline
    if inline:
        raise src.error(
            (*path, "primary_key"),
            "declare the primary key on the columns or on the table, not both",
        )
    names = _str_list(src, (*path, "primary_key"), declared)
    known = {c.name: c for c in columns}
    for name in names:
        if name not in known:
            raise src.error(
                (*path, "primary_key"),
                f"primary key column '{name}' is not a column of '{path[1]}'",
            )
        if known[name].nullable and "nullable" in (spec["columns"].get(name) or {}):
            raise src.error(
                (*path, "primary_key"), f"primary key column '{name}' cannot be nullable"
            )
    return tuple(names)


def _parse_indexes(
    src: Located, table: str, spec: Any, names: set[str], columns: tuple[Column, ...]
) -> tuple[Index, ...]:
    path = ("tables", table, "indexes")
    if not isinstance(spec, dict):
        raise src.error(
            path, "'indexes' must be a mapping of index name to {columns, unique, where}"
        )
    out = []
    for iname, ispec in spec.items():
        ipath = (*path, iname)
        _check_ident(src, ipath, iname, "index")
        if not isinstance(ispec, dict):
            raise src.error(ipath, f"index '{iname}' must be a mapping with 'columns'")
        _check_keys(src, ipath, ispec, _INDEX_KEYS)
        cols = _str_list(src, (*ipath, "columns"), ispec.get("columns"))
        if not cols:
            raise src.error(ipath, f"index '{iname}' needs at least one column")
        for col in cols:
            if col not in names:
                raise src.error(
                    (*ipath, "columns"), f"index '{iname}' names missing column '{table}.{col}'"
                )
        where = ispec.get("where")
        out.append(
            Index(
                iname,
                table,
                tuple(cols),
                _bool(src, (*ipath, "unique"), ispec.get("unique", False)),
                where=None if where is None else _check_where(src, ipath, where, columns),
                line=src.line(*ipath),
            )
        )
    for column in columns:
        if column.unique:
            out.append(
                Index(f"uq_{table}_{column.name}", table, (column.name,), True, line=column.line)
            )
    return tuple(out)


def _check_where(src: Located, ipath: KeyPath, text: Any, columns: tuple[Column, ...]) -> str:
    """Return a partial index's predicate, stripped, once it is known to be valid.

    The text as written goes into the lock: normalising it with sqlglot would let
    a sqlglot upgrade change the lock and make a spurious migration.
    """
    path, name = (*ipath, "where"), ipath[-1]
    if not isinstance(text, str) or not text.strip():
        raise src.error(path, f"index '{name}' where must be an SQL predicate string")
    try:
        trees = sqlglot.parse(text, read=NEUTRAL_SQL)
    except ParseError as ex:
        raise src.error(path, f"index '{name}' where: {ex.errors[0]['description']}") from None
    except TokenError as ex:
        raise src.error(path, f"index '{name}' where: {ex}") from None
    fault = _predicate_fault(trees, ipath[1], columns)
    if fault:
        raise src.error(path, f"index '{name}' where {fault}")
    return text.strip()


def _predicate_fault(
    trees: list[exp.Expr | None], table: str, columns: tuple[Column, ...]
) -> str | None:
    """Return what makes parsed SQL unfit as an index predicate, or None."""
    if len(trees) != 1 or trees[0] is None:
        return "must be one boolean expression"
    tree = trees[0]
    if tree.find(exp.Query):
        return "may not hold a subquery"
    if tree.find(exp.Placeholder, exp.Parameter):
        return "may not take parameters"
    if tree.find(*_VOLATILE):
        return "must be deterministic (no NOW(), CURRENT_DATE or RANDOM())"
    types = {c.name: c.type for c in columns}
    for col in tree.find_all(exp.Column):
        if col.table or col.name not in types:
            return f"names '{col.sql(NEUTRAL_SQL)}', which is not a column of '{table}'"
    root = tree.unnest()
    boolean = (
        types[root.name] == "boolean"
        if isinstance(root, exp.Column)
        else isinstance(root, _BOOLEAN_ROOTS)
    )
    return None if boolean else "must be one boolean expression"


def _parse_seed(
    src: Located, path: KeyPath, spec: Any, columns: tuple[Column, ...]
) -> tuple[dict[str, Any], ...]:
    if not isinstance(spec, list):
        raise src.error((*path, "seed"), "'seed' must be a list of rows")
    known = {c.name: c for c in columns}
    rows = []
    for i, row in enumerate(spec):
        if not isinstance(row, dict):
            raise src.error((*path, "seed", i), "a seed row must be a mapping of column to value")
        for key, value in row.items():
            if key not in known:
                raise src.error((*path, "seed", i, key), f"seed row names missing column '{key}'")
            _check_default(src, (*path, "seed", i, key), path[1], key, known[key].type, value)
        missing = [c.name for c in columns if c.required and c.name not in row]
        if missing:
            raise src.error(
                (*path, "seed", i), f"seed row lacks required column(s) {', '.join(missing)}"
            )
        rows.append(dict(row))
    return tuple(rows)


def _check_references(src: Located, tables: tuple[Table, ...]) -> None:
    by_name = {t.name: t for t in tables}
    for table in tables:
        for col in table.columns:
            ref = col.references
            if ref is None:
                continue
            path = ("tables", table.name, "columns", col.name, "references")
            target = by_name.get(ref.table)
            if target is None:
                raise src.error(
                    path,
                    f"foreign key '{table.name}.{col.name}' references missing table '{ref.table}'",
                )
            if ref.column not in {c.name for c in target.columns}:
                raise src.error(
                    path,
                    f"foreign key '{table.name}.{col.name}' references missing column "
                    f"'{ref.table}.{ref.column}'",
                )
            if (ref.column,) not in target.unique_keys:
                raise src.error(
                    path,
                    f"foreign key target '{ref.table}.{ref.column}' is not a primary or unique key",
                )
    index_names: dict[str, str] = {}
    for table in tables:
        for ix in table.indexes:
            if ix.name in index_names:
                raise src.error(
                    ("tables", table.name, "indexes", ix.name), f"duplicate index name '{ix.name}'"
                )
            index_names[ix.name] = table.name


def _parse_query(src: Located, name: str, spec: Any) -> Query:
    path = ("queries", name)
    owner, dot, method = name.partition(".")
    if not dot or not _IDENT.match(owner) or not _IDENT.match(method):
        raise src.error(
            path, f"query name '{name}' must be '<table or group>.<method>' in snake_case"
        )
    if not isinstance(spec, dict):
        raise src.error(path, f"query '{name}' must be a mapping")
    _check_keys(src, path, spec, _QUERY_KEYS)
    kind = spec.get("kind", "many")
    if kind not in QUERY_KINDS:
        raise src.error((*path, "kind"), f"query kind must be one of {', '.join(QUERY_KINDS)}")
    dialects = tuple(_str_list(src, (*path, "dialects"), spec.get("dialects", list(DIALECTS))))
    for d in dialects:
        if d not in DIALECTS:
            raise src.error((*path, "dialects"), f"unknown dialect '{d}'")
    sql = spec.get("sql")
    neutral, per_dialect = None, {}
    if isinstance(sql, str):
        neutral = sql.strip()
    elif isinstance(sql, dict) and set(sql) == set(dialects):
        per_dialect = {d: str(s).strip() for d, s in sql.items()}
    else:
        raise src.error(
            (*path, "sql"), f"'sql' must be one string or one per dialect ({', '.join(dialects)})"
        )
    params, optional = _params(src, (*path, "params"), spec.get("params") or {})
    raw = _bool(src, (*path, "raw"), spec.get("raw", False))
    if raw and (neutral is not None or params or kind != "exec"):
        raise src.error(
            (*path, "raw"),
            "a raw query is written per dialect, takes no parameters and is of kind 'exec'",
        )
    returns_raw = spec.get("returns")
    returns: tuple[tuple[str, str], ...] | str | None
    if isinstance(returns_raw, str):
        returns = returns_raw
    elif returns_raw is None:
        returns = None
    else:
        returns = _typed_pairs(src, (*path, "returns"), returns_raw)
    if kind in ("one", "many", "scalar") and returns is None:
        raise src.error(path, f"query '{name}' of kind '{kind}' needs 'returns'")
    if kind == "scalar" and (not isinstance(returns, tuple) or len(returns) != 1):
        raise src.error((*path, "returns"), "a scalar query returns exactly one column")
    return Query(
        name=name,
        owner=owner,
        method=method,
        kind=kind,
        sql=neutral,
        sql_by_dialect=per_dialect,
        params=params,
        optional=optional,
        returns=returns,
        dialects=dialects,
        raw=raw,
        doc=spec.get("doc"),
        line=src.line(*path),
    )


def _params(
    src: Located, path: KeyPath, spec: Any
) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """Return a query's (name, type) parameters and those declared `type | null`."""
    if not isinstance(spec, dict):
        raise src.error(path, "expected a mapping of name to type")
    split = {
        k: [p.strip() for p in v.split("|")] if isinstance(v, str) else [v] for k, v in spec.items()
    }
    optional = tuple(k for k, parts in split.items() if parts[1:] == ["null"])
    plain = {k: parts[0] if k in optional else spec[k] for k, parts in split.items()}
    return _typed_pairs(src, path, plain, optional=True), optional


def _typed_pairs(
    src: Located, path: KeyPath, spec: Any, optional: bool = False
) -> tuple[tuple[str, str], ...]:
    if not isinstance(spec, dict):
        raise src.error(path, "expected a mapping of name to type")
    for key, value in spec.items():
        _check_ident(src, (*path, key), key, "name")
        if value not in TYPES:
            hint = ", or 'TYPE | null' to take None" if optional else ""
            raise src.error(
                (*path, key),
                f"'{key}' has unknown type {value!r} (expected one of {', '.join(TYPES)}{hint})",
            )
    return tuple(spec.items())


def _check_ident(src: Located, path: KeyPath, name: Any, what: str) -> None:
    if not isinstance(name, str) or not _IDENT.match(name):
        raise src.error(path, f"{what} name {name!r} must be lower snake_case")
    reserved_in = [dialect for dialect, words in RESERVED.items() if name in words]
    if reserved_in:
        raise src.error(path, f"{what} name '{name}' is reserved in {' and '.join(reserved_in)}")


def _check_keys(src: Located, path: KeyPath, spec: dict[str, Any], allowed: frozenset[str]) -> None:
    for key in spec:
        if key not in allowed:
            raise src.error(
                (*path, key), f"unknown key '{key}' (expected one of {', '.join(sorted(allowed))})"
            )


def _bool(src: Located, path: KeyPath, value: Any) -> bool:
    if not isinstance(value, bool):
        raise src.error(path, f"'{path[-1]}' must be true or false")
    return value


def _str_list(src: Located, path: KeyPath, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise src.error(path, f"'{path[-1]}' must be a list of names")
    return value


def canonical_json(data: Any) -> str:
    """Return stable JSON text (sorted keys, two-space indent, newline)."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
