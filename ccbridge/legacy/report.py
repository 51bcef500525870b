"""What an import did (or would do), per file and table."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ("FileReport", "ImportReport", "TableReport")


@dataclass(slots=True)
class TableReport:
    """Rows of one target table from one file.

    Attributes:
        table: Target table.
        read: Rows read from the file.
        offered: Rows handed to the database (read minus skipped).
        added: Rows that were new (None in a dry run: nothing written).
        skipped: Skipped rows by reason.
        defaulted: Unreadable values replaced by NULL or the default, by
            column.
    """

    table: str
    read: int = 0
    offered: int = 0
    added: int | None = None
    skipped: Counter[str] = field(default_factory=Counter)
    defaulted: Counter[str] = field(default_factory=Counter)

    def counts(self) -> dict[str, Any]:
        """Return the counts as plain data (for the import marker)."""
        data: dict[str, Any] = {"read": self.read, "offered": self.offered}
        if self.added is not None:
            data["added"] = self.added
        if self.skipped:
            data["skipped"] = dict(self.skipped)
        if self.defaulted:
            data["defaulted"] = dict(self.defaulted)
        return data

    def line(self) -> str:
        """Return a one-line summary."""
        text = f"{self.table}: {self.read} read, {self.offered} offered"
        if self.added is not None:
            text += f", {self.added} added"
        if self.skipped:
            text += ", skipped " + ", ".join(f"{n} ({why})" for why, n in self.skipped.items())
        if self.defaulted:
            text += ", defaulted " + ", ".join(f"{n} {c}" for c, n in self.defaulted.items())
        return text


@dataclass(slots=True)
class FileReport:
    """One legacy file.

    Attributes:
        name: File name (the marker key is ``import:<name>``).
        path: Where it was read.
        status: ``imported``, ``would import``, ``already imported``,
            ``changed since import`` or ``skipped``.
        sha256: Hex digest of the file when it was examined.
        detail: Why it was skipped or what changed.
        tables: Per-table counts.
        notes: Fix-ups applied and rows left out, one line each.
    """

    name: str
    path: Path
    status: str = ""
    sha256: str = ""
    detail: str = ""
    tables: list[TableReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def table(self, name: str) -> TableReport:
        """Return the report of a table, adding it on first use."""
        for report in self.tables:
            if report.table == name:
                return report
        report = TableReport(name)
        self.tables.append(report)
        return report

    def lines(self) -> list[str]:
        """Return a human-readable summary."""
        head = f"{self.name}: {self.status}" + (f" ({self.detail})" if self.detail else "")
        return [
            head,
            *(f"  {t.line()}" for t in self.tables),
            *(f"  note: {n}" for n in self.notes),
        ]


@dataclass(slots=True)
class ImportReport:
    """The result of one import run.

    Attributes:
        data_dir: Directory the legacy files were looked for in.
        dry_run: True when nothing was written.
        files: One entry per legacy file found.
        revision: Config revision after the import (None if not bumped).
        vacuumed: True when the SQLite database was compacted afterwards.
        warnings: Things the operator should act on.
        looked_for: File names searched for in ``data_dir``.
    """

    data_dir: Path
    dry_run: bool = False
    files: list[FileReport] = field(default_factory=list)
    revision: int | None = None
    vacuumed: bool = False
    warnings: list[str] = field(default_factory=list)
    looked_for: tuple[str, ...] = ()

    @property
    def imported(self) -> bool:
        """True when this run wrote (or would write) anything."""
        return any(f.status in ("imported", "would import") for f in self.files)

    def lines(self) -> list[str]:
        """Return a human-readable summary of every file."""
        if not self.files:
            # Name what was searched for, so a wrong --from is obvious.
            names = ", ".join(self.looked_for)
            lines = [f"no legacy files in {self.data_dir}; looked for {names}"] if names else []
            return lines + [f"warning: {w}" for w in self.warnings]
        lines = [line for f in self.files for line in f.lines()]
        if self.revision is not None:
            lines.append(f"config revision is now {self.revision}")
        if self.vacuumed:
            lines.append("database compacted (VACUUM)")
        lines.extend(f"warning: {w}" for w in self.warnings)
        return lines
