"""Request/response capture for debug logs (spec §3.11).

Only when the `debug_log` setting is enabled. Bodies are cut at
maxBodySize (with the reference's truncation marker) and everything is
gzipped. Secret headers and a ``key=`` query parameter are masked before
the row is written: a key at rest would outlive the request it came with
(`mask_stored_headers` repairs rows written before that, once).
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ccbridge.access.credentials import mask_headers, mask_key_param
from ccbridge.db.base import Database
from generated.rows import RequestDebugLogsRow, SettingsRow

__all__ = ("BodyCapture", "debug_row", "mask_stored_headers")

_TRUNCATED = b"\n... [truncated]"


class BodyCapture:
    """Collect up to a limit of a streamed body."""

    __slots__ = ("data", "limit", "size")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.size = 0

    def add(self, chunk: bytes) -> None:
        """Keep what fits of a chunk, count all of it."""
        self.size += len(chunk)
        room = self.limit - len(self.data)
        if room > 0:
            self.data += chunk[:room]

    def body(self) -> bytes:
        """Return the kept bytes, marked when cut."""
        return bytes(self.data) + (_TRUNCATED if self.size > self.limit else b"")


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=5)


def _headers(pairs: Iterable[tuple[str, Any]]) -> bytes:
    return _gz(json.dumps(mask_headers(pairs), ensure_ascii=False).encode())


def debug_row(
    *,
    log_id: str,
    path: str,
    request_headers: Mapping[str, str],
    removed_headers: Iterable[str],
    request_body: bytes,
    response_status: int,
    response_headers: Iterable[tuple[str, str]],
    response: BodyCapture,
) -> RequestDebugLogsRow:
    """Return the debug row of one attempt."""
    cut = BodyCapture(response.limit)
    cut.add(request_body)
    return RequestDebugLogsRow(
        request_id=log_id,
        request_method="POST",
        request_path=mask_key_param(path),
        request_headers=_headers(request_headers.items()),
        request_removed_headers=_gz(json.dumps(sorted(set(removed_headers))).encode()),
        request_body=_gz(cut.body()),
        request_body_size=len(request_body),
        response_status=response_status,
        response_headers=_headers(response_headers),
        response_body=_gz(response.body()),
        response_body_size=response.size,
    )


_REPAIRED = "debug_headers_masked"  # settings key: stored rows were masked
_PAGE = 200


async def mask_stored_headers(db: Database) -> int:
    """Mask the secrets of debug rows stored before masking; return how many.

    Runs once per database (a settings marker records it).
    """
    if await db.daos.settings.get(_REPAIRED) is not None:
        return 0
    changed = offset = 0
    while True:
        page = await db.daos.request_debug_logs.list(
            order_by="request_id", limit=_PAGE, offset=offset
        )
        fixed = [row for row in map(_masked, page) if row is not None]
        if fixed:
            async with db.transaction() as tx:
                for row in fixed:
                    await tx.request_debug_logs.update(row)
        changed += len(fixed)
        offset += len(page)
        if len(page) < _PAGE:
            break
    now = datetime.now(UTC).isoformat()
    await db.daos.settings.upsert(SettingsRow(key=_REPAIRED, value=now, category="config_meta"))
    return changed


def _masked(row: RequestDebugLogsRow) -> RequestDebugLogsRow | None:
    """Return the row with its secrets masked, or None if it had none."""
    request = _remask(row.request_headers)
    response = _remask(row.response_headers)
    modified = _remask(row.request_modified_headers)
    path = mask_key_param(row.request_path)
    if request is None and response is None and modified is None and path == row.request_path:
        return None
    row.request_headers = row.request_headers if request is None else request
    row.response_headers = row.response_headers if response is None else response
    row.request_modified_headers = row.request_modified_headers if modified is None else modified
    row.request_path = path
    return row


def _remask(blob: bytes | None) -> bytes | None:
    """Return a masked copy of stored headers, None when nothing changes."""
    if not blob:
        return None
    try:
        stored = json.loads(gzip.decompress(blob))
    except (OSError, EOFError, zlib.error, ValueError):
        return None
    if not isinstance(stored, dict):
        return None
    masked = mask_headers(stored.items())
    return None if masked == stored else _headers(masked.items())
