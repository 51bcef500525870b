"""The web UI's static files, read once at startup and kept in memory.

Every file is served under ``/ui/<build>/``, where ``build`` is a hash of
the whole tree: relative ES-module imports keep working without a
bundler, and any change to any file gives every URL a new name, so the
files can be cached for a year (``immutable``). Each file is gzipped once
here, never per request.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ("STATIC_DIR", "Asset", "Assets", "load_assets")

STATIC_DIR: Final = Path(__file__).parent / "static"
_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Files that are worth compressing; licences are text too but never fetched by the page.
_COMPRESS: Final = (".js", ".css", ".html", ".svg")


@dataclass(frozen=True, slots=True)
class Asset:
    """One static file: its bytes, gzipped bytes (or None) and type."""

    data: bytes
    gzipped: bytes | None
    content_type: str


@dataclass(frozen=True, slots=True)
class Assets:
    """The static tree: a build id and the files by relative path."""

    build: str
    files: dict[str, Asset]

    def url(self, path: str) -> str:
        """Return the cacheable URL of a file."""
        return f"/ui/{self.build}/{path}"


def load_assets(root: Path = STATIC_DIR) -> Assets:
    """Read, hash and compress every file under ``root``."""
    digest = hashlib.sha256()
    files: dict[str, Asset] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        data = path.read_bytes()
        digest.update(rel.encode() + b"\0" + data + b"\0")
        suffix = path.suffix.lower()
        kind = _TYPES.get(suffix) or mimetypes.guess_type(rel)[0] or "text/plain; charset=utf-8"
        packed = gzip.compress(data, 9, mtime=0) if suffix in _COMPRESS else None
        files[rel] = Asset(data, packed, kind)
    return Assets(digest.hexdigest()[:16], files)
