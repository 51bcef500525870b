"""Client and session identity of a request, for logs and affinity."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = (
    "HeaderGetter",
    "RequestIdentity",
    "claude_identity",
    "header_getter",
    "parse_claude_user_id",
    "responses_identity",
)

HeaderGetter = Callable[[str], str | None]

CODEX_CLIENT_ID: Final = "codex"
_LEGACY_DELIMITER: Final = "_account__session_"
_CLAUDE_SESSION_HEADERS: Final = ("X-Claude-Code-Session-Id", "Session_id")
_RESPONSES_SESSION_HEADERS: Final = ("Conversation_id", "X-Claude-Code-Session-Id", "Session_id")


# PERF(proxy): made per request; a frozen dataclass's __init__ costs about 4x a plain one.
@dataclass(slots=True)
class RequestIdentity:
    """Who sent a request: client, session and request hints."""

    client_id: str = ""
    session_id: str = ""
    reasoning_effort: str = ""
    service_tier: str = ""
    fast: bool = False


def header_getter(headers: Mapping[str, str], *, lowered: bool = False) -> HeaderGetter:
    """Return a case-insensitive getter over a header mapping.

    ``lowered`` says the names are lower-case already (Falcon's
    ``req.headers``), so no copy is made.
    """
    if not lowered:
        headers = {k.lower(): v for k, v in headers.items()}
    return lambda name: headers.get(name.lower())


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _dig(body: Mapping[str, Any], *path: str) -> object:
    node: object = body
    for part in path:
        if not isinstance(node, dict):  # parsed JSON; dict skips the slow ABC check
            return None
        node = node.get(part)
    return node


def parse_claude_user_id(compound: str) -> tuple[str, str]:
    """Split Claude Code's ``metadata.user_id`` into (client, session).

    Accepts the JSON form ``{"device_id", "account_uuid", "session_id"}``
    (client = account_uuid, else device_id) and the legacy form
    ``user_<x>_account__session_<uuid>``. Anything else is the client id
    with no session.
    """
    compound = compound.strip()
    if not compound:
        return "", ""
    if compound.startswith("{"):
        parsed = _json_user_id(compound)
        if parsed is not None:
            return parsed
    head, sep, tail = compound.partition(_LEGACY_DELIMITER)
    if not sep:
        return compound, ""
    return head.strip(), tail.strip()


def _json_user_id(compound: str) -> tuple[str, str] | None:
    try:
        data = json.loads(compound)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    device = _text(data.get("device_id"))
    if not device:
        return None
    return _text(data.get("account_uuid")) or device, _text(data.get("session_id"))


def _first_header(get_header: HeaderGetter, names: tuple[str, ...]) -> str:
    for name in names:
        value = _text(get_header(name))
        if value:
            return value
    return ""


def claude_identity(body: Mapping[str, Any], get_header: HeaderGetter) -> RequestIdentity:
    """Return the identity of a /v1/messages request body."""
    client, session = parse_claude_user_id(_text(_dig(body, "metadata", "user_id")))
    if not session:
        session = _first_header(get_header, _CLAUDE_SESSION_HEADERS)
    fast = _text(body.get("speed")).lower() == "fast"
    return RequestIdentity(client_id=client, session_id=session, fast=fast)


def _service_tier(body: Mapping[str, Any]) -> str:
    tier = _text(body.get("service_tier")).lower()
    if not tier and _text(body.get("speed")).lower() == "fast":
        return "priority"
    return tier


def responses_identity(body: Mapping[str, Any], get_header: HeaderGetter) -> RequestIdentity:
    """Return the identity of a /v1/responses request body.

    ``prompt_cache_key`` marks Codex: client ``codex`` with that key as
    session. Otherwise the conversation/session headers, then
    ``metadata.user_id``, are parsed like a Claude user id.
    """
    effort = _text(_dig(body, "reasoning", "effort"))
    tier = _service_tier(body)
    cache_key = _text(body.get("prompt_cache_key"))
    if cache_key:
        client, session = CODEX_CLIENT_ID, cache_key
    else:
        compound = _first_header(get_header, _RESPONSES_SESSION_HEADERS)
        compound = compound or _text(_dig(body, "metadata", "user_id"))
        client, session = parse_claude_user_id(compound)
    return RequestIdentity(
        client_id=client,
        session_id=session,
        reasoning_effort=effort,
        service_tier=tier,
        fast=tier == "priority",
    )
