"""Connection set-up and transaction-control statements.

NOTE(storage): the only SQL text written by hand in ``ccbridge`` besides
the reader of foreign legacy files (``legacy/legacy_sql.py``); every other
statement comes from ``generated/``. PostgreSQL needs one: psycopg issues
BEGIN/COMMIT itself and connection settings travel as libpq options.
"""

from __future__ import annotations

from typing import Final

__all__ = (
    "PG_OPTIONS",
    "PG_SYNC_COMMIT_OFF",
    "SQLITE_BEGIN_READ",
    "SQLITE_BEGIN_WRITE",
    "SQLITE_BUSY_TIMEOUT_MS",
    "SQLITE_COMMIT",
    "SQLITE_CONNECTION_PRAGMAS",
    "SQLITE_FOREIGN_KEYS_OFF",
    "SQLITE_FOREIGN_KEYS_ON",
    "SQLITE_PING",
    "SQLITE_READER_PRAGMAS",
    "SQLITE_ROLLBACK",
)

SQLITE_BUSY_TIMEOUT_MS: Final = 5000

# https://sqlite.org/pragma.html; busy_timeout first so that switching the
# journal mode waits for other processes instead of failing.
SQLITE_CONNECTION_PRAGMAS: Final = (
    f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
)
# A reader that is handed a writing statement fails loudly instead of
# writing outside the writer lock.
SQLITE_READER_PRAGMAS: Final = ("PRAGMA query_only = ON",)

# https://sqlite.org/lang_transaction.html: IMMEDIATE takes the write lock
# at BEGIN (waiting up to busy_timeout), so a transaction never fails with
# "database is locked" when it later upgrades from reading to writing.
SQLITE_BEGIN_WRITE: Final = "BEGIN IMMEDIATE"
# Deferred: the read snapshot starts at the first read and holds until
# COMMIT (WAL mode).
SQLITE_BEGIN_READ: Final = "BEGIN"
SQLITE_COMMIT: Final = "COMMIT"
SQLITE_ROLLBACK: Final = "ROLLBACK"
# Only takes effect outside a transaction (sqlite.org/foreignkeys.html).
SQLITE_FOREIGN_KEYS_OFF: Final = "PRAGMA foreign_keys = OFF"
SQLITE_FOREIGN_KEYS_ON: Final = "PRAGMA foreign_keys = ON"
SQLITE_PING: Final = "PRAGMA schema_version"

# Server settings of every PostgreSQL connection, sent as libpq "options"
# so they survive reconnects without a configure round trip.
PG_OPTIONS: Final = "-c TimeZone=UTC"
# For a bulk copy that resumes after a crash: its last commits may be lost.
PG_SYNC_COMMIT_OFF: Final = "SET LOCAL synchronous_commit = off"
