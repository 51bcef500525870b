"""Where dbmigrate reads and writes: an SQLite file or a PostgreSQL URL."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from ccbridge.db.base import Database
from ccbridge.errors import SettingsError
from ccbridge.settings import check_conninfo, check_url_scheme, mask_conninfo

__all__ = ("Target", "parse_kind", "parse_target")

Dialect = Literal["sqlite", "postgres"]

_PG_PREFIXES: Final = ("postgres://", "postgresql://")
_SQLITE_PREFIX: Final = "sqlite:///"
_KINDS: Final[dict[str, Dialect]] = {
    "sqlite": "sqlite",
    "sqlite3": "sqlite",
    "postgres": "postgres",
    "postgresql": "postgres",
    "pg": "postgres",
}
# Small pool: dbmigrate uses one connection at a time per side.
_POOL: Final = {"min_size": 1, "max_size": 2}


@dataclass(frozen=True, slots=True)
class Target:
    """A database location.

    Attributes:
        dialect: ``"sqlite"`` or ``"postgres"``.
        location: SQLite path, or a libpq URL / conninfo (secret).
        origin: The flag it came from (``--to``), named in errors.
    """

    dialect: Dialect
    location: str
    origin: str = ""

    @property
    def display(self) -> str:
        """Return the location with any password masked."""
        return self.location if self.dialect == "sqlite" else mask_conninfo(self.location)

    @property
    def path(self) -> Path:
        """Return the SQLite file."""
        return Path(self.location)

    def database(self) -> Database:
        """Return an unopened Database for this location."""
        if self.dialect == "sqlite":
            from ccbridge.db.sqlite import SqliteDatabase

            return SqliteDatabase(self.path, origin=self.origin)
        from ccbridge.db.postgres import PostgresDatabase

        return PostgresDatabase(self.location, **_POOL)


def parse_target(value: str, kind: str | None = None, origin: str = "") -> Target:
    """Interpret ``--from``/``--to`` (and the reference's ``-*-type``).

    Args:
        value: A path, ``sqlite:///path``, a ``postgres[ql]://`` URL or a
            ``key=value`` conninfo string.
        kind: ``sqlite`` or ``postgresql`` to force the engine.
        origin: The flag the value came from, named in errors.

    Raises:
        SettingsError: Unknown engine or URL scheme, or a value that does
            not fit the engine; the value itself is never echoed.
    """
    value = value.strip()
    name = origin or "database location"
    if not value:
        raise SettingsError(f"{name}: empty database location")
    check_url_scheme(value, name)
    looks_pg = value.startswith(_PG_PREFIXES) or ("=" in value and "/" not in value.split("=")[0])
    dialect = parse_kind(kind) if kind else ("postgres" if looks_pg else "sqlite")
    if dialect == "postgres":
        if not looks_pg:
            raise SettingsError(f"{name}: expected a postgresql:// URL or conninfo string")
        return Target("postgres", check_conninfo(value, name), origin)
    if value.startswith(_PG_PREFIXES):
        raise SettingsError(f"{name}: a PostgreSQL URL was given for an SQLite database")
    return Target("sqlite", value.removeprefix(_SQLITE_PREFIX), origin)


def parse_kind(kind: str) -> Dialect:
    """Return the dialect of ``sqlite`` / ``postgresql`` (any case).

    Raises:
        SettingsError: Another word.
    """
    try:
        return _KINDS[kind.strip().lower()]
    except KeyError:
        raise SettingsError(f"unknown database type {kind!r}: use sqlite or postgresql") from None
