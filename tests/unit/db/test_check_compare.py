"""compare(): every kind of finding, on plain data."""

from __future__ import annotations

from ccbridge.db.check import Column, Index, Table, compare
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
