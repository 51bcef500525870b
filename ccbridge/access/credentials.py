"""Header names that carry credentials (spec §3.2, §3.11).

One definition for everything that must treat them as secrets: the
upstream client drops the client's credential headers before forwarding
and scrubs their values from error reasons; the admin debug-log view masks
every secret header when it shows stored headers.
"""

from __future__ import annotations

from typing import Final

__all__ = ("CREDENTIAL_HEADERS", "SECRET_HEADERS")

# Lower-cased names a client (or the gateway) may send a key in.
CREDENTIAL_HEADERS: Final = frozenset(
    {"authorization", "x-api-key", "x-goog-api-key", "proxy-authorization", "x-proxy-key"}
)
# Credential headers plus the cookies of either direction.
SECRET_HEADERS: Final = CREDENTIAL_HEADERS | {"cookie", "set-cookie"}
