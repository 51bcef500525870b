"""Typed answers of /api/keys: a client key as shown, lists, deletions.

The handlers build these Structs and the OpenAPI document's responses are
their ``model.ref``: one definition for both. A key's secret appears only
in ``ClientKeyWithSecret`` (creation and rotation), never its hash.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from ccbridge.admin.keybudget import KeyLimits, Spend, limits_view, spend_view
from generated.rows import ApiKeysRow

__all__ = (
    "ClientKeyList",
    "ClientKeyView",
    "ClientKeyWithSecret",
    "KeyDeleted",
    "KeyListQuery",
    "KeyStatus",
    "key_view",
    "with_secret",
)

_ALL = "null = all"
KeyStatus = Literal["active", "disabled", "revoked"]


def _d(description: str) -> msgspec.Meta:
    return msgspec.Meta(description=description)


class ClientKeyView(KeyLimits):
    """A client key as the admin API shows it (never the key or its hash).

    Its expiry, budgets and current spend come first (KeyLimits).
    """

    id: Annotated[int, _d("Key id (path parameter of /api/keys/{key_id}).")]
    name: Annotated[str, _d("Display name.")]
    keyPrefix: Annotated[str, _d("First characters of the key, to recognise it.")]
    description: Annotated[str, _d("Free text; '' = none.")]
    status: Annotated[str, _d("active, disabled or revoked.")]
    isAdmin: Annotated[bool, _d("Whether it may use the admin API (/api).")]
    rateLimitRpm: Annotated[int, _d("Requests per minute of this key; 0 = the global limit.")]
    allowedEndpoints: Annotated[list[str] | None, _d(f"Endpoints it may call; {_ALL}.")]
    allowedChannelsMsg: Annotated[list[str] | None, _d(f"Messages channel ids; {_ALL}.")]
    allowedChannelsResp: Annotated[list[str] | None, _d(f"Responses channel ids; {_ALL}.")]
    allowedChannelsGemini: Annotated[list[str] | None, _d(f"Gemini channel ids; {_ALL}.")]
    allowedChannelsChat: Annotated[list[str] | None, _d(f"Chat channel ids; {_ALL}.")]
    allowedModels: Annotated[list[str] | None, _d(f"Models it may request; {_ALL}.")]
    createdAt: Annotated[datetime | None, _d("Creation time (RFC 3339).")]
    updatedAt: Annotated[datetime | None, _d("Last change (RFC 3339).")]
    lastUsedAt: Annotated[datetime | None, _d("Last use (RFC 3339); null = never used.")]


class ClientKeyWithSecret(ClientKeyView):
    """A client key with its secret: the only answers that carry it."""

    key: Annotated[
        str,
        msgspec.Meta(
            pattern="^sk-[A-Za-z0-9]{48}$",
            description="The key itself (sk- and 48 letters and digits); shown only once.",
        ),
    ]


class ClientKeyList(msgspec.Struct):
    """GET /api/keys: one page of keys."""

    keys: Annotated[list[ClientKeyView], _d("The page's keys, by id.")]
    total: Annotated[int, _d("Keys matching the filter, on every page.")]
    hasMore: Annotated[bool, _d("Whether a later page (a larger offset) has more.")]


class KeyDeleted(msgspec.Struct):
    """DELETE /api/keys/{key_id}."""

    success: Annotated[bool, _d("Always true (errors are problems).")]
    message: Annotated[str, _d("What was done, for a person.")]
    id: Annotated[int, _d("Id of the deleted key.")]


def key_view(row: ApiKeysRow, spend: Spend, now: datetime) -> ClientKeyView:
    """Return the view of a stored client key, with its spend of the periods current at ``now``."""
    return ClientKeyView(
        id=row.id or 0,
        name=row.name,
        keyPrefix=row.key_prefix,
        description=row.description or "",
        status=row.status,
        isAdmin=row.is_admin,
        rateLimitRpm=row.rate_limit_rpm,
        allowedEndpoints=row.allowed_endpoints,
        allowedChannelsMsg=row.allowed_channels_msg,
        allowedChannelsResp=row.allowed_channels_resp,
        allowedChannelsGemini=row.allowed_channels_gemini,
        allowedChannelsChat=row.allowed_channels_chat,
        allowedModels=row.allowed_models,
        createdAt=row.created_at,
        updatedAt=row.updated_at,
        lastUsedAt=row.last_used_at,
        **limits_view(row),
        **spend_view(row, spend, now),
    )


def with_secret(view: ClientKeyView, key: str) -> ClientKeyWithSecret:
    """Return ``view`` with the key's secret (creation and rotation only)."""
    fields: dict[str, Any] = msgspec.structs.asdict(view)
    return ClientKeyWithSecret(**fields, key=key)


class KeyListQuery(msgspec.Struct):
    """Which keys GET /api/keys lists (query parameters)."""

    status: Annotated[
        Literal["active", "disabled", "revoked"] | None,
        _d("Only keys of this status; absent = all"),
    ] = None
    limit: Annotated[
        int, msgspec.Meta(ge=1, le=1000, description="Keys per page (default 100, at most 1000)")
    ] = 100
    offset: Annotated[int, msgspec.Meta(ge=0, description="Keys skipped (default 0)")] = 0
