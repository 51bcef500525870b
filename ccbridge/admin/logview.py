"""JSON views of request-log rows and debug rows (the reference's shapes).

Debug bodies and headers are stored gzipped, headers masked when written;
they are unpacked and masked again here, when read (spec §3.11), for rows
written by something else.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, cast

from msgspec import UNSET

from ccbridge.access.credentials import SECRET_HEADERS, mask_value
from ccbridge.admin.log_models import DebugEntry, LogEntry, LogStatus
from generated.rows import RequestDebugLogsRow, RequestLogsRow

__all__ = ("SENSITIVE_HEADERS", "debug_json", "iso", "log_json", "mask_headers", "mask_value")

# Every credential header of the upstream client, and cookies.
SENSITIVE_HEADERS: Final = SECRET_HEADERS


def iso(at: datetime | None) -> str | None:
    """Return an aware time as RFC3339 with a Z, or None."""
    return None if at is None else at.isoformat().replace("+00:00", "Z")


def log_json(row: RequestLogsRow, has_debug: bool) -> LogEntry:
    """Return a log row as the reference's RequestLog (empty optional members absent)."""
    return LogEntry(
        id=row.id,
        status=cast(LogStatus, row.status),
        initialTime=row.initial_time,
        firstTokenTime=row.first_token_time,
        firstTokenDurationMs=row.first_token_duration_ms or 0,
        completeTime=row.complete_time,
        durationMs=row.duration_ms or 0,
        type=row.provider,
        providerName=row.provider_name or "",
        model=row.model,
        responseModel=row.response_model or "",
        inputTokens=row.input_tokens or 0,
        outputTokens=row.output_tokens or 0,
        cacheCreationInputTokens=row.cache_creation_input_tokens or 0,
        cacheReadInputTokens=row.cache_read_input_tokens or 0,
        totalTokens=row.total_tokens or 0,
        price=row.price or 0.0,
        inputCost=row.input_cost or 0.0,
        outputCost=row.output_cost or 0.0,
        cacheCreationCost=row.cache_creation_cost or 0.0,
        cacheReadCost=row.cache_read_cost or 0.0,
        httpStatus=row.http_status or 0,
        stream=bool(row.stream),
        transport=row.transport or "",
        channelId=-1 if row.channel_id is None else row.channel_id,
        channelName=row.channel_name or "",
        endpoint=row.endpoint or "",
        domain=row.domain or "",
        apiKeyId=row.api_key_id,
        hasDebugData=has_debug,
        createdAt=row.created_at,
        reasoningEffort=row.reasoning_effort or UNSET,
        serviceTier=row.service_tier or UNSET,
        serviceTierOverridden=row.service_tier_overridden or UNSET,
        channelUid=row.channel_uid or UNSET,
        clientId=row.client_id or UNSET,
        sessionId=row.session_id or UNSET,
        requestId=row.request_id or UNSET,
        error=row.error or UNSET,
        upstreamError=row.upstream_error or UNSET,
        failoverInfo=row.failover_info or UNSET,
    )


def mask_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """Return headers with the sensitive ones masked."""
    return {
        name: mask_value(str(value)) if name.lower() in SENSITIVE_HEADERS else value
        for name, value in headers.items()
    }


def _unpack(blob: bytes | None) -> bytes:
    if not blob:
        return b""
    try:
        return gzip.decompress(blob)
    except (OSError, EOFError, zlib.error):
        return blob  # not gzip: a row written by something else; show it as is


def _text(blob: bytes | None) -> str:
    return _unpack(blob).decode("utf-8", "replace")


def _json(blob: bytes | None) -> Any:
    data = _unpack(blob)
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def _headers(blob: bytes | None) -> dict[str, Any]:
    data = _json(blob)
    return mask_headers(data) if isinstance(data, dict) else {}


def debug_json(row: RequestDebugLogsRow) -> DebugEntry:
    """Return a debug row as the reference's DebugLogEntry, headers masked."""
    modified = _json(row.request_modified_headers)
    return DebugEntry(
        requestId=row.request_id,
        requestMethod=row.request_method,
        requestPath=row.request_path,
        requestHeaders=_headers(row.request_headers),
        requestRemovedHeaders=_json(row.request_removed_headers) or [],
        requestModifiedHeaders=mask_headers(modified) if isinstance(modified, dict) else {},
        requestBody=_text(row.request_body),
        requestBodySize=row.request_body_size or 0,
        responseStatus=row.response_status or 0,
        responseHeaders=_headers(row.response_headers),
        responseBody=_text(row.response_body),
        responseBodySize=row.response_body_size or 0,
        createdAt=row.created_at,
    )
