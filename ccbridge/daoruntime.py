"""What every generated DAO shares: statements, the executor protocol, codecs, CRUD.

Hand-written, linted and type-checked like the rest of ccbridge; the modules
under ``generated/`` hold only what varies per table (rows, SQL text per
dialect, codecs per column) and import the rest from here.

Imports only the standard library, so the layers read ``ccbridge.db`` ->
``generated`` -> ``ccbridge.daoruntime``.

SQL is fixed at codegen time. `Table.list`, `count` and `delete_where` join
fragments that codegen rendered (a prefix, at most one filter, an order, a
page clause); the SQLite batched upsert repeats a codegen-rendered VALUES row
between a codegen-rendered head and tail. Nothing is string-replaced and
nothing is cached at run time; values are always bound parameters.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from typing import Any, ClassVar, Generic, NamedTuple, Protocol, TypeVar, overload

__all__ = (
    "CODECS",
    "Codecs",
    "Executor",
    "Params",
    "QueryGroup",
    "Stmt",
    "Table",
    "TableSql",
    "UpsertBatch",
    "json_parse",
    "json_text",
    "now",
    "same",
    "to_bool",
    "to_float",
    "to_int",
    "ts_aware",
    "ts_parse",
    "ts_text",
    "ts_utc",
    "unsupported",
)

R = TypeVar("R")

Params = Sequence[Any] | Mapping[str, Any]
Encoder = Callable[[R], tuple[Any, ...]]


class Stmt(NamedTuple):
    """A statement: its name (for logs and errors), SQL and write flag.

    The SQL starts with a ``-- name: <owner>.<method> :<kind>`` line.
    """

    name: str
    sql: str
    writes: bool


class Executor(Protocol):
    """What a DAO needs from a connection or a transaction."""

    dialect: str

    async def fetch_all(self, stmt: Stmt, params: Params = ()) -> list[tuple[Any, ...]]: ...

    async def fetch_one(self, stmt: Stmt, params: Params = ()) -> tuple[Any, ...] | None: ...

    async def execute(self, stmt: Stmt, params: Params = ()) -> int: ...

    async def execute_many(self, stmt: Stmt, rows: Sequence[Sequence[Any]]) -> None: ...

    async def copy_in(self, stmt: Stmt, rows: Iterable[Sequence[Any]]) -> None: ...


# --- Codecs ------------------------------------------------------------------------------------
# SQLite keeps timestamps as fixed-width UTC text (text order is time order)
# and json as text; PostgreSQL sessions run in UTC and parse jsonb.


def now() -> datetime:
    """Return the current time, aware, in UTC (the default of `now` columns)."""
    return datetime.now(UTC)


# PERF(storage): text up to the second, by second since 0001-01-01. Writes
# cluster in time and isoformat() of an aware datetime costs about 2 us.
_SECOND_TEXT: dict[int, str] = {}


def ts_text(v: datetime | None) -> str | None:
    """Return an aware datetime as SQLite stores it: ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    if v is None:
        return None
    if v.tzinfo is not UTC:
        if v.tzinfo is None:
            raise ValueError("naive datetime: pass an aware (UTC) datetime")
        v = v.astimezone(UTC)
    second = ((v.toordinal() * 24 + v.hour) * 60 + v.minute) * 60 + v.second
    prefix = _SECOND_TEXT.get(second)
    if prefix is None:
        if len(_SECOND_TEXT) >= 4096:
            _SECOND_TEXT.clear()
        prefix = _SECOND_TEXT[second] = v.isoformat(timespec="seconds")[:-6] + "."
    return prefix + "%06dZ" % v.microsecond  # noqa: UP031 (PERF: %-format is the fastest here)


def ts_aware(v: datetime | None) -> datetime | None:
    """Return a datetime for PostgreSQL unchanged, refusing a naive one."""
    if v is not None and v.tzinfo is None:
        raise ValueError("naive datetime: pass an aware (UTC) datetime")
    return v


@overload
def ts_parse(v: str) -> datetime: ...


@overload
def ts_parse(v: None) -> None: ...


def ts_parse(v: str | None) -> datetime | None:
    """Return SQLite timestamp text as an aware UTC datetime."""
    if v is None:
        return None
    parsed = datetime.fromisoformat(v)
    zone = parsed.tzinfo
    if zone is UTC:  # as ts_text writes it: nothing to convert (a third of the cost)
        return parsed
    return parsed.replace(tzinfo=UTC) if zone is None else parsed.astimezone(UTC)


def ts_utc(v: datetime | None) -> datetime | None:
    """Return a datetime in UTC."""
    return None if v is None else v.astimezone(UTC)


def json_text(v: Any) -> str | None:
    """Return a JSON value as compact text (None stays NULL)."""
    return None if v is None else json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def json_parse(v: str | None) -> Any:
    """Return JSON text parsed (NULL stays None)."""
    return None if v is None else json.loads(v)


@overload
def to_bool(v: int) -> bool: ...


@overload
def to_bool(v: None) -> None: ...


def to_bool(v: int | None) -> bool | None:
    """Return a stored 0/1 (or a bool) as a bool."""
    return None if v is None else bool(v)


def to_int(v: Any) -> int | None:
    """Return a number (a PostgreSQL numeric SUM, a bool) as an int."""
    return None if v is None else int(v)


def to_float(v: Any) -> float | None:
    """Return a number as a float."""
    return None if v is None else float(v)


def same(v: Any) -> Any:
    """Return the value unchanged: the codec of a type the driver already maps."""
    return v


class Codecs(NamedTuple):
    """The conversions of one dialect that differ from the other's.

    Named-query parameters and computed result columns of these types go
    through the DAO's codecs, picked once when the DAO is built; every other
    conversion is the same in each dialect and generated code calls it by name.
    """

    param_timestamp: Callable[[datetime | None], Any]
    param_boolean: Callable[[Any], Any]
    result_timestamp: Callable[[Any], datetime | None]
    result_json: Callable[[Any], Any]


CODECS: Mapping[str, Codecs] = {
    # bool is not an exact int, so sqlite3 would send it through its slow
    # adapter protocol (0.6 us a value); int() stores the same 0/1.
    "sqlite": Codecs(ts_text, to_int, ts_parse, json_parse),
    # Sessions run with TimeZone=UTC, so psycopg returns aware UTC datetimes.
    "postgres": Codecs(ts_aware, same, ts_utc, same),
}


# --- Statements of one table in one dialect ------------------------------------------------


class UpsertBatch(NamedTuple):
    """An upsert of `rows` rows in one statement: head, the VALUES row repeated, tail."""

    head: str
    row: str
    tail: str
    rows: int

    def stmt(self, name: str) -> Stmt:
        """Return the statement (built per call: a batch is thousands of values)."""
        return Stmt(name, self.head + ", ".join([self.row] * self.rows) + self.tail, True)


@dataclass(frozen=True, slots=True)
class TableSql(Generic[R]):
    """Everything a table's DAO runs in one dialect; codegen writes one per table and dialect.

    `select`, `count` and `delete_where` are the prefixes of the statements
    `Table` joins at run time; `filter_eq` and `filter_null` the WHERE
    clause on one column (``= ?`` and ``IS NULL``); `order` and `order_desc`
    the ORDER BY of one column, then the rest of the key; `page` the tail
    for (no limit, limit, offset, limit and offset).
    """

    select: str
    count: str
    delete_where: str
    filter_eq: Mapping[str, str]
    filter_null: Mapping[str, str]
    order: Mapping[str, str]
    order_desc: Mapping[str, str]
    page: tuple[str, str, str, str]
    get: Stmt
    insert: Stmt
    insert_auto: Stmt | None
    bulk: Stmt
    bulk_auto: Stmt | None
    bulk_is_copy: bool
    upserts: Mapping[str, Stmt]
    upserts_many: Mapping[str, Stmt]
    upsert_batches: Mapping[str, UpsertBatch]
    ignore_many: Stmt
    stage: tuple[Stmt, ...]
    row_ranges: tuple[Stmt, Stmt]
    update: Stmt | None
    delete: Stmt
    clear: Stmt
    decode: Callable[[tuple[Any, ...]], R]
    encode: Encoder[R]
    encode_auto: Encoder[R] | None
    encode_update: Encoder[R] | None
    encode_upsert: Mapping[str, Encoder[R]]
    encode_value: Mapping[str, Callable[[Any], Any]]


class QueryGroup:
    """Named queries bound to an executor; the base of every generated DAO.

    Everything that depends on the dialect is picked here, once: `_c`, the
    codecs of the executor's dialect, and `_q`, the statements of the named
    queries in it (a generated `_Queries`; the subclass declares its type).
    """

    __slots__ = ("_c", "_ex", "_q")

    _QUERIES: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, ex: Executor) -> None:
        dialect = ex.dialect
        self._ex = ex
        self._c = CODECS[dialect]
        self._q: Any = self._QUERIES.get(dialect)


def unsupported(name: str, dialects: str) -> ValueError:
    """Return the error of a named query run on a dialect it was not written for."""
    return ValueError(f"{name} runs on {dialects} only")


class Table(QueryGroup, Generic[R]):
    """The CRUD methods of one table; one generated subclass per table."""

    __slots__ = ("_v",)

    TABLE: ClassVar[str]
    COLUMNS: ClassVar[tuple[str, ...]]
    KEY: ClassVar[tuple[str, ...]]
    AUTO: ClassVar[str | None]
    _VARIANTS: ClassVar[Mapping[str, TableSql[Any]]]

    def __init__(self, ex: Executor) -> None:
        # PERF(storage): one __init__, no super() chain; Daos builds every DAO per transaction.
        dialect = ex.dialect
        self._ex = ex
        self._c = CODECS[dialect]
        self._q = self._QUERIES.get(dialect)
        self._v: TableSql[R] = self._VARIANTS[dialect]

    async def _get(self, key: tuple[Any, ...]) -> R | None:
        v = self._v
        row = await self._ex.fetch_one(v.get, self._key_params(key))
        return None if row is None else v.decode(row)

    async def _delete(self, key: tuple[Any, ...]) -> bool:
        return await self._ex.execute(self._v.delete, self._key_params(key)) > 0

    def _key_params(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        enc = self._v.encode_value
        return tuple(
            enc[k](value) if k in enc else value for k, value in zip(self.KEY, key, strict=True)
        )

    async def list(
        self,
        where: Mapping[str, Any] | None = None,
        order_by: str | Sequence[str] | None = None,
        desc: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> builtins.list[R]:
        """Return rows, ordered and paged, equal to a filter on at most one column.

        `where` maps a column to a value (None: IS NULL). `order_by` is a
        column, then the rest of the key breaks ties (the key by default);
        `desc` reverses it. For anything else write a named query.
        """
        stmt, params = self.list_statement(where, order_by, desc, limit, offset)
        rows = await self._ex.fetch_all(stmt, params)
        return list(map(self._v.decode, rows))

    async def count(self, where: Mapping[str, Any] | None = None) -> int:
        """Return how many rows match a filter on at most one column."""
        stmt, params = self.count_statement(where)
        row = await self._ex.fetch_one(stmt, params)
        return int(row[0]) if row else 0

    async def delete_where(self, where: Mapping[str, Any]) -> int:
        """Delete the rows matching a filter on one column; return how many."""
        stmt, params = self.delete_where_statement(where)
        return await self._ex.execute(stmt, params)

    def list_statement(
        self,
        where: Mapping[str, Any] | None = None,
        order_by: str | Sequence[str] | None = None,
        desc: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[Stmt, tuple[Any, ...]]:
        """Return the statement and parameters `list` runs for these arguments."""
        v = self._v
        where_sql, params = self._filter(where)
        order = self._order_column(order_by)
        order_sql = (v.order_desc if desc else v.order)[order]
        page = v.page[(limit is not None) + 2 * (offset > 0)]
        if limit is not None:
            params += (limit,)
        if offset > 0:
            params += (offset,)
        sql = v.select + where_sql + order_sql + page
        return Stmt(self.TABLE + ".list", sql, False), params

    def count_statement(
        self, where: Mapping[str, Any] | None = None
    ) -> tuple[Stmt, tuple[Any, ...]]:
        """Return the statement and parameters `count` runs for this filter."""
        sql, params = self._filter(where)
        return Stmt(self.TABLE + ".count", self._v.count + sql, False), params

    def delete_where_statement(self, where: Mapping[str, Any]) -> tuple[Stmt, tuple[Any, ...]]:
        """Return the statement and parameters `delete_where` runs for this filter."""
        if not where:
            raise ValueError("delete_where needs a filter; use clear() to delete every row")
        sql, params = self._filter(where)
        return Stmt(self.TABLE + ".delete_where", self._v.delete_where + sql, True), params

    def _filter(self, where: Mapping[str, Any] | None) -> tuple[str, tuple[Any, ...]]:
        if not where:
            return "", ()
        if len(where) > 1:
            raise ValueError(
                f"{self.TABLE}: list, count and delete_where filter on one column; "
                f"got {sorted(where)} (write a named query in schema.yaml for more)"
            )
        ((name, value),) = where.items()
        v = self._v
        if name not in v.filter_eq:
            raise ValueError(f"{self.TABLE} has no column {name!r}")
        if value is None:
            return v.filter_null[name], ()
        enc = v.encode_value.get(name)
        return v.filter_eq[name], (value if enc is None else enc(value),)

    def _order_column(self, order_by: str | Sequence[str] | None) -> str:
        key = self.KEY
        if order_by is None:
            return key[0]
        if isinstance(order_by, str):
            column = order_by
        else:
            given = tuple(order_by)
            column = given[0] if given else key[0]
            full = (column, *(k for k in key if k != column))
            if len(given) > 1 and given != full:
                raise ValueError(
                    f"{self.TABLE}: order by one column and then the key {key}, "
                    f"e.g. {full}; got {given}"
                )
        if column not in self._v.order:
            raise ValueError(f"{self.TABLE} has no column {column!r}")
        return column

    async def clear(self) -> int:
        """Delete every row; return how many."""
        return await self._ex.execute(self._v.clear)

    async def insert(self, row: R) -> R:
        """Insert a row; return it as stored (ids and defaults filled)."""
        v = self._v
        if self.AUTO is not None and getattr(row, self.AUTO) is None:
            assert v.insert_auto is not None and v.encode_auto is not None
            stored = await self._ex.fetch_one(v.insert_auto, v.encode_auto(row))
        else:
            stored = await self._ex.fetch_one(v.insert, v.encode(row))
        assert stored is not None
        return v.decode(stored)

    async def insert_many(self, rows: Sequence[R], ignore_conflicts: bool = False) -> None:
        """Insert rows in bulk (COPY on PostgreSQL); ids all set or all None.

        With ignore_conflicts, rows whose key exists are skipped (ids must be
        set); on PostgreSQL that path stages through a temporary table, so it
        must run inside a transaction.
        """
        if not rows:
            return
        v = self._v
        if ignore_conflicts:
            await self._insert_ignoring(rows)
            return
        auto = self.AUTO is not None and getattr(rows[0], self.AUTO) is None
        if self.AUTO is not None and any((getattr(r, self.AUTO) is None) != auto for r in rows):
            raise ValueError(f"{self.TABLE}.insert_many: give every row an id or none")
        stmt, encode = (v.bulk_auto, v.encode_auto) if auto else (v.bulk, v.encode)
        assert stmt is not None and encode is not None
        encoded = list(map(encode, rows))
        if v.bulk_is_copy:
            await self._ex.copy_in(stmt, encoded)
        else:
            await self._ex.execute_many(stmt, encoded)

    async def _insert_ignoring(self, rows: Sequence[R]) -> None:
        v = self._v
        encoded = list(map(v.encode, rows))
        if not v.stage:
            await self._ex.execute_many(v.ignore_many, encoded)
            return
        create, copy, merge, drop = v.stage
        await self._ex.execute(create)
        await self._ex.copy_in(copy, encoded)
        await self._ex.execute(merge)
        await self._ex.execute(drop)

    def _conflict_key(self, on: str | Sequence[str] | None, known: Mapping[str, Any]) -> str:
        key = ",".join((on,) if isinstance(on, str) else (on or self.KEY))
        if key not in known:
            raise ValueError(f"{self.TABLE} has no unique key ({key}); known: {sorted(known)}")
        return key

    async def upsert_many(self, rows: Sequence[R], on: str | Sequence[str] | None = None) -> None:
        """Insert or update many rows by a unique key, in one batch."""
        if not rows:
            return
        v = self._v
        key = self._conflict_key(on, v.upserts_many)
        encoded = list(map(v.encode_upsert[key], rows))
        batch = v.upsert_batches.get(key)
        if batch is not None and len(encoded) >= batch.rows:
            # PERF(storage): a batch of rows a statement run, not a row each.
            per = batch.rows
            whole = len(encoded) - len(encoded) % per
            batches = [
                tuple(chain.from_iterable(encoded[i : i + per])) for i in range(0, whole, per)
            ]
            await self._ex.execute_many(batch.stmt(self.TABLE + ".upsert_many"), batches)
            encoded = encoded[whole:]
        if encoded:
            await self._ex.execute_many(v.upserts_many[key], encoded)

    async def upsert(self, row: R, on: str | Sequence[str] | None = None) -> R:
        """Insert a row or update the row with the same key; return it."""
        v = self._v
        key = self._conflict_key(on, v.upserts)
        stored = await self._ex.fetch_one(v.upserts[key], v.encode_upsert[key](row))
        assert stored is not None
        return v.decode(stored)

    async def update(self, row: R) -> bool:
        """Write every non-key column of a row by its key; True if found."""
        v = self._v
        if v.update is None or v.encode_update is None:
            raise ValueError(f"{self.TABLE} has only key columns; nothing to update")
        return await self._ex.execute(v.update, v.encode_update(row)) > 0
