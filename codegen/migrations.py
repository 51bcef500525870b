"""Numbered, append-only migrations and their checksum files.

`migrations.sum` (in the spirit of atlas.sum) lists every migration file with
its sha256, headed by a hash of the list itself, so an edited, removed,
inserted or reordered migration is caught before anything runs.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from codegen.dialects import DIALECTS
from codegen.diff import diff, render_ops, slug_for
from codegen.model import Schema, SchemaError, canonical_json
from codegen.render import CODEGEN_VERSION, render_sql_file

__all__ = ("MigrationState", "next_migration", "read_state", "sum_text")

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationState:
    """The migration files on disk, verified against their sum files."""

    def __init__(self, files: dict[str, dict[str, str]]) -> None:
        self.files = files  # dialect -> {file name: text}, in order

    @property
    def names(self) -> list[str]:
        """Return the migration file names (the same in every dialect)."""
        return list(next(iter(self.files.values())))


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


def next_migration(
    schema: Schema, lock: dict[str, Any] | None, state: MigrationState
) -> dict[str, str] | None:
    """Return the files of the next migration and the new lock, or None."""
    ops = diff(lock, schema)
    if not ops:
        return None
    if not state.names and lock is not None:
        raise SchemaError("schema.yaml", 1, "schema.lock.json exists but there are no migrations")
    number = len(state.names) + 1
    name = f"{number:04d}_{slug_for(ops, first=lock is None)}.sql"
    out: dict[str, str] = {}
    for dname, d in DIALECTS.items():
        text = render_sql_file(
            schema, d, render_ops(ops, schema, lock, d), note=f"migration {name[:-4]}"
        )
        out[f"migrations/{dname}/{name}"] = text
        out[f"migrations/{dname}/migrations.sum"] = sum_text({**state.files[dname], name: text})
    out["schema.lock.json"] = lock_text(schema, name[:-4])
    return out


def lock_text(schema: Schema, migration: str) -> str:
    """Return schema.lock.json for the schema as of a migration."""
    return canonical_json(
        {
            "generated_by": f"ccbridge codegen {CODEGEN_VERSION}",
            "migration": migration,
            "schema_sha256": schema.source_hash,  # the one place generated/ records it
            **schema.lock(),
        }
    )
