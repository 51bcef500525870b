"""Numbered, append-only migrations and their checksum files.

`migrations.sum` (in the spirit of atlas.sum) lists every migration file with
its sha256, headed by a hash of the list itself, so an edited, removed,
inserted or reordered migration is caught before anything runs.

The newest migration is rewritten in place, instead of a next one being
stacked on it, while git's HEAD holds neither of its files and holds
schema.lock.json as of the migration before it (docs/schema-format.md).
Only a run that writes asks git; ``--check`` compares files and nothing else.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlglot import exp

from codegen.dialects import DIALECTS
from codegen.dialects.base import Dialect
from codegen.diff import NOTE, Ack, acks_of, diff, render_ops, slug_for
from codegen.model import Schema, SchemaError, canonical_json
from codegen.render import CODEGEN_VERSION, render_sql_file

__all__ = (
    "MigrationState",
    "lock_text",
    "next_migration",
    "plan_migrations",
    "read_state",
    "sum_text",
)

LOCK = "schema.lock.json"

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationState:
    """The migration files on disk, verified against their sum files."""

    def __init__(self, files: dict[str, dict[str, str]]) -> None:
        self.files = files  # dialect -> {file name: text}, in order

    @property
    def names(self) -> list[str]:
        """Return the migration file names (the same in every dialect)."""
        return list(next(iter(self.files.values())))

    def without_newest(self) -> MigrationState:
        """Return the state before the newest migration."""
        return MigrationState({d: dict(list(f.items())[:-1]) for d, f in self.files.items()})

    def paths(self) -> dict[str, str]:
        """Return every migration and sum file, by path under generated/."""
        out = {
            f"migrations/{d}/{n}": t for d, files in self.files.items() for n, t in files.items()
        }
        out.update(
            {f"migrations/{d}/migrations.sum": sum_text(f) for d, f in self.files.items() if f}
        )
        return out


def read_state(out: Path) -> MigrationState:
    """Read and verify the migration folders; raise ValueError on tampering."""
    files: dict[str, dict[str, str]] = {}
    for name in DIALECTS:
        folder = out / "migrations" / name
        found = sorted(p.name for p in folder.glob("*.sql")) if folder.is_dir() else []
        files[name] = {f: (folder / f).read_text(encoding="utf-8") for f in found}
        _verify_numbers(name, found)
        sum_path = folder / "migrations.sum"
        if found or sum_path.exists():
            actual = sum_path.read_text(encoding="utf-8") if sum_path.exists() else ""
            if actual != sum_text(files[name]):
                raise ValueError(
                    f"generated/migrations/{name}: migrations.sum does not match "
                    "the migration files "
                    "(a migration was edited, removed or added by hand; migrations are append-only)"
                )
    names = {d: list(f) for d, f in files.items()}
    if len({tuple(v) for v in names.values()}) > 1:
        raise ValueError(f"migration folders differ between dialects: {names}")
    return MigrationState(files)


def _verify_numbers(dialect: str, names: list[str]) -> None:
    for i, name in enumerate(names, start=1):
        match = _NAME.match(name)
        if not match or int(match.group(1)) != i:
            raise ValueError(
                f"generated/migrations/{dialect}/{name}: expected migration number {i:04d}"
            )


def sum_text(files: dict[str, str]) -> str:
    """Return the sum file for migration files (name -> text, in order)."""
    lines = "".join(f"{name} h1:{_sha(text)}\n" for name, text in files.items())
    return f"h1:{_sha(lines)}\n{lines}"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def plan_migrations(schema: Schema, out: Path, check: bool) -> tuple[dict[str, str], list[str]]:
    """Return the migration files, sums and lock generated/ must hold, and problems.

    Raises:
        SchemaError: A change lacks its marker, or a marker changes nothing.
        ValueError: The migration files were tampered with.
    """
    state = read_state(out)
    lock_path = out / LOCK
    lock = json.loads(lock_path.read_text(encoding="utf-8")) if lock_path.exists() else None
    files = state.paths()
    if check or (lock is not None and lock["tables"] == schema.lock()["tables"]):
        # Nothing to write (or not allowed to): the markers must all be spent too.
        if not diff(lock, schema):
            if lock is not None:
                files[LOCK] = lock_text(schema, lock["migration"], _ledger(lock))
            return files, []
        if lock is not None:  # the missing migration is the problem, not the lock on disk
            files[LOCK] = lock_path.read_text(encoding="utf-8")
        return files, ["schema.yaml has changes without a migration: run `make codegen`"]
    base = _uncommitted_newest(out, state)
    if base is None:
        new = next_migration(schema, lock, state)
        if new is None:  # the lock's facts moved without a change to migrate (a seed row's values)
            assert lock is not None
            return {**files, LOCK: lock_text(schema, lock["migration"], _ledger(lock))}, []
        return {**files, **new}, []
    newest = state.names[-1][:-4]
    given = [
        Ack(r["marker"], r["target"], r["change"])
        for r in _ledger(lock)
        if r["migration"] == newest
    ]
    before = state.without_newest()
    redone = next_migration(schema, base.lock, before, given)
    if redone is not None:
        return {**before.paths(), **redone}, []
    # The edits undo the newest migration: back to the lock before it.
    files = before.paths()
    if base.lock is not None:
        files[LOCK] = lock_text(schema, base.lock["migration"], _ledger(base.lock))
    return files, []


@dataclass(frozen=True, slots=True)
class _Base:
    """The committed state the newest, uncommitted migration was made from."""

    lock: dict[str, Any] | None


def _uncommitted_newest(out: Path, state: MigrationState) -> _Base | None:
    """Return HEAD's lock when the newest migration may be rewritten, else None.

    It may while HEAD holds none of its files and HEAD's schema.lock.json is
    as of the migration before it; outside a git work tree, never.
    """
    if not state.names:
        return None
    top = _git(out, "rev-parse", "--show-toplevel")
    if top is None:
        return None
    rel = out.resolve().relative_to(Path(top.strip()).resolve()).as_posix()
    prefix = "" if rel == "." else f"{rel}/"
    tracked = _git(out, "ls-tree", "-r", "--name-only", "HEAD", "--", f"{prefix}migrations") or ""
    newest = state.names[-1]
    if any(f"{prefix}migrations/{d}/{newest}" in tracked.splitlines() for d in DIALECTS):
        return None
    head_lock = _git(out, "show", f"HEAD:{prefix}{LOCK}")
    lock = json.loads(head_lock) if head_lock else None
    previous = state.names[-2][:-4] if len(state.names) > 1 else None
    if (lock or {}).get("migration") != previous:
        return None
    return _Base(lock)


def _git(cwd: Path, *args: str) -> str | None:
    """Return git's output, or None when git fails or is missing."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def next_migration(
    schema: Schema,
    lock: dict[str, Any] | None,
    state: MigrationState,
    given: Iterable[Ack] = (),
) -> dict[str, str] | None:
    """Return the files of the next migration and the new lock, or None.

    ``given`` acknowledgements count as markers in schema.yaml (those of a
    migration being rewritten in place, recorded in the lock).
    """
    ops = diff(lock, schema, given=given)
    if not ops:
        return None
    if not state.names and lock is not None:
        raise SchemaError("schema.yaml", 1, "schema.lock.json exists but there are no migrations")
    number = len(state.names) + 1
    name = f"{number:04d}_{slug_for(ops, first=lock is None)}.sql"
    out: dict[str, str] = {}
    for dname, d in DIALECTS.items():
        statements = render_ops(ops, schema, lock, d)
        text = _migration_text(schema, d, statements, note=f"migration {name[:-4]}")
        out[f"migrations/{dname}/{name}"] = text
        out[f"migrations/{dname}/migrations.sum"] = sum_text({**state.files[dname], name: text})
    # Only the newest migration's: older markers are gone (diff refuses them).
    out[LOCK] = lock_text(schema, name[:-4], [a.record(name[:-4]) for a in acks_of(ops)])
    return out


def _migration_text(schema: Schema, d: Dialect, statements: list[exp.Expression], note: str) -> str:
    """Return a migration file: the SQL file header, then each statement under its note."""
    head = render_sql_file(schema, d, [], note=note).rstrip("\n")
    body = "\n\n".join(_statement(d, s) for s in statements)
    if not statements:  # integer -> bigint on SQLite: both INTEGER
        body = f"-- nothing to run on {d.NAME}: the change leaves its tables as they are"
    return f"{head}\n\n{body}\n"


def _statement(d: Dialect, statement: exp.Expression) -> str:
    note = statement.meta.get(NOTE, "")
    comments = "".join(f"-- {line}\n" for line in note.splitlines())
    return f"{comments}{d.render(statement)};"


def _ledger(lock: dict[str, Any] | None) -> list[dict[str, str]]:
    return list((lock or {}).get("acknowledged", []))


def lock_text(
    schema: Schema, migration: str, acknowledged: list[dict[str, str]] | None = None
) -> str:
    """Return schema.lock.json for the schema as of a migration.

    ``acknowledged`` lists every marker a migration used, with that migration.
    """
    return canonical_json(
        {
            "generated_by": f"ccbridge codegen {CODEGEN_VERSION}",
            "migration": migration,
            "schema_sha256": schema.source_hash,  # the one place generated/ records it
            **({"acknowledged": acknowledged} if acknowledged else {}),
            **schema.lock(),
        }
    )
