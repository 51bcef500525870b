"""compare(): every kind of finding, on plain data."""

from __future__ import annotations

import pytest

from ccbridge.db.check import Column, ForeignKey, Index, Table, compare, same_default
from generated.catalog import EXPECTED


def table(columns: dict[str, Column], indexes: dict[str, Index] | None = None) -> Table:
    return Table(columns=columns, indexes=indexes or {})


ID = Column("INTEGER", True, True)
NAME = Column("TEXT", True, False)


def test_identical_catalogs_have_no_findings() -> None:
    same = {"t": table({"id": ID, "name": NAME}, {"i": Index(False, ("name",))})}
    assert compare(same, same) == []


def test_missing_and_unexpected_tables() -> None:
    assert compare({"a": table({"id": ID})}, {"b": table({"id": ID})}) == [
        "missing table a",
        "unexpected table b",
    ]


def test_column_findings() -> None:
    expected = {"t": table({"id": ID, "name": NAME, "gone": NAME})}
    live = {
        "t": table(
            {
                "id": Column("integer", False, False),  # case-blind type
                "name": Column("BLOB", True, False),
                "new": NAME,
            }
        )
    }
    assert compare(expected, live) == [
        "t: missing column gone",
        "t: unexpected column new",
        "t.id: nullable, expected NOT NULL",
        "t.id: not in the primary key, expected in the primary key",
        "t.name: type is BLOB, expected TEXT",
    ]


def test_index_findings() -> None:
    expected = {"t": table({"id": ID}, {"a": Index(True, ("x", "y")), "b": Index(False, ("x",))})}
    live = {"t": table({"id": ID}, {"a": Index(False, ("y", "x")), "c": Index(False, ("x",))})}
    assert compare(expected, live) == [
        "t: missing index b",
        "t: unexpected index c",
        "t: index a is (y, x), expected UNIQUE (x, y)",
    ]


def test_partial_index_findings() -> None:
    # Only whether an index is partial is compared, not its predicate.
    expected = {"t": table({"id": ID}, {"a": Index(False, ("x",), True), "b": Index(True, ("x",))})}
    live = {"t": table({"id": ID}, {"a": Index(False, ("x",)), "b": Index(True, ("x",), True)})}
    assert compare(expected, live) == [
        "t: index a is (x), expected partial (x)",
        "t: index b is partial UNIQUE (x), expected UNIQUE (x)",
    ]


def test_expected_catalog_covers_both_dialects() -> None:
    assert set(EXPECTED) == {"sqlite", "postgres"}
    for spec in EXPECTED.values():
        assert "schema_migrations" in spec["tables"]


def test_default_findings() -> None:
    expected = {"t": table({"id": ID, "a": Column("TEXT", True, False, "'x'"), "b": NAME})}
    live = {
        "t": table(
            {
                "id": ID,
                "a": Column("TEXT", True, False, None),
                "b": Column("TEXT", True, False, "'y'"),
            }
        )
    }
    assert compare(expected, live) == [
        "t.a: no default, expected default 'x'",
        "t.b: default 'y', expected no default",
    ]


@pytest.mark.parametrize(
    ("expected", "live"),
    [
        ("'pending'", "'pending'::text"),
        ("0.0", "'0'::double precision"),
        ("0", "'0'::bigint"),
        ("-1", "'-1'::integer"),
        ("TRUE", "true"),
        ("CURRENT_TIMESTAMP", "CURRENT_TIMESTAMP"),
        ("CAST('{\"a\":[1,2]}' AS JSONB)", "'{\"a\": [1, 2]}'::jsonb"),
        ("'it''s'", "'it''s'::text"),
        (
            "(STRFTIME('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')",
            "(STRFTIME('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')",
        ),
        (None, "NULL"),
        (None, "NULL::text"),
    ],
)
def test_same_default_reads_each_engines_spelling(expected: str | None, live: str) -> None:
    assert same_default(expected, live)


@pytest.mark.parametrize(
    ("expected", "live"),
    [("'a'", "'b'::text"), ("0", "1"), ("TRUE", "false"), ("'x'", None), (None, "0")],
)
def test_same_default_tells_values_apart(expected: str | None, live: str | None) -> None:
    assert not same_default(expected, live)


def test_foreign_key_and_constraint_findings() -> None:
    cascade = ForeignKey("p", "id", "CASCADE")
    expected = {"t": Table(columns={"id": ID}, foreign_keys={"a": cascade, "b": cascade})}
    live = {
        "t": Table(
            columns={"id": ID},
            foreign_keys={"b": ForeignKey("p", "id"), "c": cascade},
            constraints={"t_check": "CHECK"},
        )
    }
    assert compare(expected, live) == [
        "t.a: missing foreign key -> p(id) ON DELETE CASCADE",
        "t.b: foreign key is -> p(id) ON DELETE NO ACTION, expected -> p(id) ON DELETE CASCADE",
        "t.c: unexpected foreign key -> p(id) ON DELETE CASCADE",
        "t: unexpected CHECK constraint t_check",
    ]


def test_column_order_counts_only_where_a_query_reads_by_position() -> None:
    live = {"t": table({"name": NAME, "id": ID})}
    assert compare({"t": table({"id": ID, "name": NAME})}, live) == []
    ordered = {"t": Table(columns={"id": ID, "name": NAME}, order_matters=True)}
    assert compare(ordered, live) == [
        "t: columns are in the order name, id, expected id, name "
        "(a named query reads them by position)"
    ]
