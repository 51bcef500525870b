"""Shared fixtures: a real PostgreSQL for the session, databases per test.

PostgreSQL comes from ``CCBRIDGE_TEST_PG_DSN`` when set, else from a
private server this session starts (tests/pgserver.py). When none can be
had, PostgreSQL tests fail under ``CI=true`` and are skipped otherwise.

``empty_db`` and ``db`` are parametrized over both engines, so a test that
uses them runs once on SQLite and once on PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final, NoReturn

import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.pgserver import PgServer, PgUnavailable

if TYPE_CHECKING:
    from ccbridge.db.base import Database

ENGINES: Final = ("sqlite", "postgres")
# Small pools: a test session opens many databases side by side.
TEST_POOL: Final = {"min_size": 1, "max_size": 4}


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"PostgreSQL is required in CI: {reason}", pytrace=False)
    pytest.skip(f"no PostgreSQL: {reason}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's PostgreSQL server."""
    dsn = os.environ.get("CCBRIDGE_TEST_PG_DSN")
    try:
        server = PgServer.external(dsn) if dsn else PgServer.start()
    except PgUnavailable as ex:
        _unavailable(str(ex))
    yield server
    server.stop()


@pytest.fixture
def pg_dsn(pg_server: PgServer) -> Iterator[str]:
    """Conninfo of a fresh, empty database, dropped after the test."""
    dsn = pg_server.create_database()
    yield dsn
    pg_server.drop_database(dsn)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each engine in turn."""
    return str(request.param)


def make_database(engine: str, target: str | Path) -> Database:
    """Return an unopened Database for an SQLite path or a conninfo."""
    if engine == "sqlite":
        from ccbridge.db.sqlite import SqliteDatabase

        return SqliteDatabase(target)
    from ccbridge.db.postgres import PostgresDatabase

    return PostgresDatabase(str(target), **TEST_POOL)


@pytest.fixture
def empty_target(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """An empty SQLite file path or PostgreSQL conninfo for ``engine``."""
    if engine == "sqlite":
        return tmp_path / "data" / "cc-bridge.db"
    return str(request.getfixturevalue("pg_dsn"))


@pytest.fixture
async def empty_db(engine: str, empty_target: str | Path) -> AsyncIterator[Database]:
    """An opened database without any table, on each engine."""
    async with make_database(engine, empty_target) as database:
        yield database


@pytest.fixture
async def db(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Database]:
    """An opened, fully migrated database, on each engine."""
    # NOTE(storage): imported here, not at the top, so that a broken or
    # missing generated/ fails only the tests that need a database.
    from ccbridge.db.migrate import migrate

    if engine == "sqlite":
        async with make_database(engine, tmp_path / "cc-bridge.db") as database:
            await migrate(database)
            yield database
        return
    server: PgServer = request.getfixturevalue("pg_server")
    dsn = server.create_database(template=await _migrated_template(server))
    try:
        async with make_database(engine, dsn) as database:
            yield database
    finally:
        server.drop_database(dsn)


async def _migrated_template(server: PgServer) -> str:
    """Return a migrated database to copy, made on first use.

    PERF(storage): copying a template (~20 ms) beats migrating each test's
    database. Made lazily here because an async session fixture cannot be
    requested from inside a running test loop.
    """
    if server.template is None:
        from ccbridge.db.migrate import migrate

        dsn = server.create_database()
        async with make_database("postgres", dsn) as database:
            await migrate(database)
        server.template = str(conninfo_to_dict(dsn)["dbname"])
    return server.template
