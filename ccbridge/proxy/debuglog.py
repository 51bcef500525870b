"""Request/response capture for debug logs (spec §3.11).

Only when the `debug_log` setting is enabled. Bodies are cut at
maxBodySize (with the reference's truncation marker) and everything is
gzipped; headers are stored as sent and masked when read, so nothing is
lost should an operator need the raw request.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Mapping

from generated.rows import RequestDebugLogsRow

__all__ = ("BodyCapture", "debug_row")

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


def _headers(pairs: Iterable[tuple[str, str]]) -> bytes:
    return _gz(json.dumps(dict(pairs), ensure_ascii=False).encode())


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
        request_path=path,
        request_headers=_headers(request_headers.items()),
        request_removed_headers=_gz(json.dumps(sorted(set(removed_headers))).encode()),
        request_body=_gz(cut.body()),
        request_body_size=len(request_body),
        response_status=response_status,
        response_headers=_headers(response_headers),
        response_body=_gz(response.body()),
        response_body_size=response.size,
    )
