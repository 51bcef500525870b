"""Files of STORAGE_BACKEND=json: atomic writes and change detection.

A write goes to a temporary file in the same folder, is flushed to disk and
renamed over the original, so a reader (or a crash) never sees half a file.
Before config.json is replaced, the old one is copied to
`backups/config-<time>.json` and the ten newest copies are kept, as the
reference does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ("FileStamp", "stamp_of", "write_atomic")

BACKUPS_KEPT = 10


@dataclass(frozen=True, slots=True)
class FileStamp:
    """What a file held when last read or written."""

    mtime_ns: int
    size: int
    sha256: str


def stamp_of(path: Path) -> FileStamp | None:
    """Return a file's stamp, or None when it does not exist."""
    try:
        stat = path.stat()
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return FileStamp(stat.st_mtime_ns, stat.st_size, hashlib.sha256(data).hexdigest())


def write_atomic(path: Path, data: bytes, backups: Path | None = None) -> FileStamp:
    """Replace a file's content in one step; return the new stamp.

    Args:
        path: The file to write.
        data: Its new content.
        backups: Folder for a timestamped copy of the old file, if any.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if backups is not None and path.exists():
        _back_up(path, backups)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    stamp = stamp_of(path)
    assert stamp is not None
    return stamp


def _back_up(path: Path, backups: Path) -> None:
    backups.mkdir(parents=True, exist_ok=True)
    moment = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    shutil.copy2(path, backups / f"{path.stem}-{moment}{path.suffix}")
    copies = sorted(backups.glob(f"{path.stem}-*{path.suffix}"))
    for old in copies[:-BACKUPS_KEPT]:
        old.unlink(missing_ok=True)
