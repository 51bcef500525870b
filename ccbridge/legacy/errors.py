"""The one error a failed legacy import or copy reports."""

from __future__ import annotations

__all__ = ("LegacyImportError",)


class LegacyImportError(ValueError):
    """A legacy file cannot be imported; nothing was written.

    The message names the file and where in it the problem is: a JSON
    path (``$.upstream[2].apiKeys``) or a table. It never quotes values,
    so upstream keys cannot leak through it.

    Attributes:
        file: File name (``config.json``) or database label.
        where: JSON path or table name; empty when the whole file is bad.
        reason: What is wrong.
    """

    def __init__(self, file: str, where: str, reason: str) -> None:
        prefix = f"{file}: {where}: " if where else f"{file}: "
        super().__init__(prefix + reason)
        self.file = file
        self.where = where
        self.reason = reason
