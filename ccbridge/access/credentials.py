"""Header names that carry credentials (spec §3.2, §3.11).

One definition for everything that must treat them as secrets: the
upstream client drops the client's credential headers before forwarding
and scrubs their values from error reasons; debug capture masks every
secret header before it is stored, so no key rests in the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

__all__ = ("CREDENTIAL_HEADERS", "SECRET_HEADERS", "mask_headers", "mask_key_param", "mask_value")

# Lower-cased names a client (or the gateway) may send a key in.
CREDENTIAL_HEADERS: Final = frozenset(
    {"authorization", "x-api-key", "x-goog-api-key", "proxy-authorization", "x-proxy-key"}
)
# Credential headers plus the cookies of either direction.
SECRET_HEADERS: Final = CREDENTIAL_HEADERS | {"cookie", "set-cookie"}

_KEY_PARAM = re.compile(r"([?&]key=)([^&#]*)", re.IGNORECASE)


def mask_value(value: str) -> str:
    """Return a secret shortened to its first 8 and last 4 characters."""
    return f"{value[:8]}...{value[-4:]}" if len(value) > 12 else "***"


def mask_headers(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Return headers as a dict, the secret ones masked."""
    return {
        name: mask_value(str(value)) if name.lower() in SECRET_HEADERS else value
        for name, value in pairs
    }


def mask_key_param(path: str) -> str:
    """Return a path whose ``key=`` query parameter is masked."""
    return _KEY_PARAM.sub(lambda m: m.group(1) + mask_value(m.group(2)), path)
