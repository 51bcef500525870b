"""Who is calling: the client key of a request (spec §3.2).

Managed keys are looked up by SHA-256 hash in the config snapshot (only
active keys are in it, so a revoked key stops on every instance at the next
reload); the master key is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime

from ccbridge.access.limiter import RateDecision, RateLimiter
from ccbridge.access.permissions import Denial
from ccbridge.access.standing import check_budget, check_expiry
from ccbridge.store.budgets import BudgetBook
from ccbridge.store.live import LiveConfig
from ccbridge.store.snapshot import ClientKey, Snapshot

__all__ = ("MASTER", "ClientAuth", "authenticate", "client_secret", "hash_key")

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


class ClientAuth:
    """The client key of a request, and its per-key rate limit.

    The limit is the key's own RPM, else the ``api`` limit of the
    ``ratelimit`` setting; either way per key, in one-minute windows.
    """

    __slots__ = ("_live", "_master", "budgets", "limiter")

    def __init__(
        self, live: LiveConfig, master_key: str | None, limiter: RateLimiter, budgets: BudgetBook
    ) -> None:
        self._live = live
        self._master = (master_key or "").encode()
        self.limiter = limiter
        self.budgets = budgets

    def identify(
        self, headers: Mapping[str, str], params: Mapping[str, str | list[str]]
    ) -> ClientKey | None:
        """Return the key a request presents, or None when it has no valid one."""
        return authenticate(client_secret(headers, params), self._live.snapshot, self._master)

    def admit(self, key: ClientKey) -> RateDecision | None:
        """Count one request of ``key``; None when it has no limit at all."""
        limit = (
            key.rate_limit_rpm if key.rate_limit_rpm > 0 else self._live.snapshot.ratelimit.api_rpm
        )
        if limit <= 0:
            return None
        return self.limiter.hit(key.id, limit)  # the limiter counts client keys only

    def expired(self, key: ClientKey) -> Denial | None:
        """Return a refusal when the key has expired."""
        return None if key.expires_at is None else check_expiry(key, datetime.now(UTC))

    def spent(self, key: ClientKey) -> Denial | None:
        """Return a refusal when the key has spent a budget (this instance's view)."""
        return check_budget(key, self.budgets, self.budgets.clock()) if key.has_budget else None
