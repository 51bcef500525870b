"""CORS for browsers on other origins (ENABLE_CORS, CORS_ORIGIN).

Only the configured origins get the Access-Control-* headers. A preflight
(OPTIONS with Access-Control-Request-Method) is answered here, before the
key checks, since browsers send it without credentials: 204 with the
allowed methods and the requested headers for a listed origin, 403 without
CORS headers for any other. Off by default: same-origin clients (the web
UI, agents, SDKs) need none of it.
"""

from __future__ import annotations

from typing import Final

import falcon.asgi

__all__ = ("Cors",)

_METHODS: Final = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
# Headers a browser script may read from an answer (beyond the safelisted ones).
_EXPOSED: Final = "ETag, Retry-After, x-request-id, x-ccbridge-request-id"
_MAX_AGE: Final = "600"


class Cors:
    """Falcon middleware: answer preflights and label answers for allowed origins."""

    def __init__(self, origins: tuple[str, ...]) -> None:
        self._any = "*" in origins
        self._origins = frozenset(origins)

    def _allowed(self, origin: str | None) -> str | None:
        """Return the Access-Control-Allow-Origin value for ``origin``, if allowed."""
        if not origin:
            return None
        if self._any:
            return "*"
        return origin if origin.rstrip("/") in self._origins else None

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Answer a preflight at once."""
        if req.method != "OPTIONS" or not req.get_header("Access-Control-Request-Method"):
            return
        allow = self._allowed(req.get_header("Origin"))
        resp.complete = True  # no auth, no resource: a preflight carries no key
        resp.vary = ("Origin",)
        if allow is None:
            resp.status = 403
            return
        resp.status = 204
        resp.set_header("Access-Control-Allow-Origin", allow)
        resp.set_header("Access-Control-Allow-Methods", _METHODS)
        requested = req.get_header("Access-Control-Request-Headers")
        if requested:
            resp.set_header("Access-Control-Allow-Headers", requested)
        resp.set_header("Access-Control-Max-Age", _MAX_AGE)

    async def process_response(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        resource: object,
        req_succeeded: bool,
    ) -> None:
        """Let an allowed origin read the answer (errors too)."""
        if resp.complete and req.method == "OPTIONS":
            return  # a preflight, answered above
        allow = self._allowed(req.get_header("Origin"))
        if allow is None:
            return
        resp.set_header("Access-Control-Allow-Origin", allow)
        resp.set_header("Access-Control-Expose-Headers", _EXPOSED)
        if allow != "*":
            resp.append_header("Vary", "Origin")
