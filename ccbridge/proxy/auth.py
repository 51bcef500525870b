"""Who is calling: the client key of a request (spec §3.2).

Managed keys are looked up by SHA-256 hash in the config snapshot (only
active keys are in it, so a revoked key stops on every instance at the next
reload); the master key is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from ccbridge.store.snapshot import ClientKey, Snapshot

__all__ = ("MASTER", "authenticate", "client_secret", "hash_key")

MASTER = ClientKey.master()


def client_secret(headers: Mapping[str, str], params: Mapping[str, str | list[str]]) -> str | None:
    """Return the key a client sent, in the reference's order of sources.

    Args:
        headers: Lower-cased request headers.
        params: Query parameters (a repeated one is a list: the first counts).
    """
    for name in ("x-api-key", "x-goog-api-key"):
        value = headers.get(name)
        if value:
            return value.strip()
    auth = headers.get("authorization")
    if auth:
        return auth[7:].strip() if auth[:7].lower() == "bearer " else auth.strip()
    key = params.get("key")
    if isinstance(key, list):
        key = key[0] if key else None
    return key.strip() if key else None


def hash_key(secret: str) -> str:
    """Return the stored form of a client key (sha256 hex)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def authenticate(secret: str | None, snapshot: Snapshot, master: bytes) -> ClientKey | None:
    """Return the key for a secret, or None when it is not valid."""
    if not secret:
        return None
    # The master key first: no hash to compute for the single-user setup.
    if master and hmac.compare_digest(secret.encode(), master):
        return MASTER
    return snapshot.keys_by_hash.get(hash_key(secret))
