"""What every /api resource shares: auth, errors, revisions, input checks.

Errors are JSON problems (RFC 9457) that also carry the reference's
`error` field, so existing admin clients keep showing a message. Config
writes take the revision from `If-Match` and answer with `ETag`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import falcon
import falcon.asgi

from ccbridge.access.guard import AccessGuard
from ccbridge.access.permissions import check_endpoint
from ccbridge.errors import StaleRevision
from ccbridge.runtime import Runtime
from ccbridge.store.snapshot import ClientKey
from generated.dao import Daos

__all__ = (
    "AdminAuth",
    "AdminError",
    "admin_key",
    "body_object",
    "if_match",
    "opt",
    "problem",
    "read_config",
    "read_raw",
    "render_admin_error",
    "render_http_error",
    "reply",
    "set_etag",
    "write_config",
)

T = TypeVar("T")
# Paths a non-admin key may read when its allowlist names the endpoint.
_MIB = 1024 * 1024
_DEFAULT_BODY_LIMIT = 4 * _MIB
_ENDPOINT_PATHS = {"/api/messages/channels/current": "messages_current_channel"}

_ETAG = re.compile(r'^(?:W/)?"?(\d+)"?$')


class AdminError(Exception):
    """An /api request that cannot be served, as a JSON problem.

    Args:
        status: HTTP status (400, 401, 403, 404, 409, 422, …).
        detail: What went wrong, for a person.
        code: Stable machine code, e.g. ``CHANNEL_NOT_FOUND``.
        headers: Response headers to send with it (e.g. Retry-After).
        extra: More members of the problem object (e.g. the field).
    """

    def __init__(
        self,
        status: int,
        detail: str,
        code: str = "",
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code
        self.headers = dict(headers or {})
        self.extra = extra


def problem(status: int, detail: str, code: str = "", **extra: Any) -> bytes:
    """Return a JSON problem body."""
    title = falcon.code_to_http_status(status).split(" ", 1)[1]
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "error": detail,
    }
    if code:
        body["code"] = code
    return json.dumps({**body, **extra}).encode()


async def render_admin_error(
    req: falcon.asgi.Request, resp: falcon.asgi.Response, ex: Exception, params: Any
) -> None:
    """Falcon error handler for AdminError and StaleRevision."""
    if isinstance(ex, StaleRevision):
        ex = AdminError(
            409,
            "Configuration changed; reload and retry",
            "STALE_REVISION",
            currentRevision=ex.current,
        )
    assert isinstance(ex, AdminError)
    resp.status = ex.status
    resp.content_type = "application/problem+json"
    resp.data = problem(ex.status, ex.detail, ex.code, **ex.extra)
    for name, value in ex.headers.items():
        resp.set_header(name, value)


def render_http_error(
    req: falcon.asgi.Request, resp: falcon.asgi.Response, ex: falcon.HTTPError
) -> bool:
    """Answer a Falcon HTTP error on /api as a JSON problem; False elsewhere.

    Falcon raises these itself (405 with Allow, a malformed typed query
    parameter, an unknown route), and the admin API answers every error in
    one format.
    """
    if not req.path.startswith("/api/"):
        return False
    status = int(str(ex.status).split(" ", 1)[0])
    detail = ex.description or ex.title or falcon.code_to_http_status(status)
    code = "METHOD_NOT_ALLOWED" if status == 405 else "INVALID_PARAMETER" if status == 400 else ""
    resp.status = status
    resp.content_type = "application/problem+json"
    resp.data = problem(status, str(detail), code)
    headers = ex.headers or {}
    for name, value in headers.items() if isinstance(headers, Mapping) else headers:
        resp.set_header(name, value)
    return True


class AdminAuth:
    """Falcon middleware: /api needs an admin key or the master key.

    Before authenticating it applies the /api rate limit of the
    ``ratelimit`` setting (per client address); a failed authentication is
    counted by the guard, which blocks the address on every path once a
    threshold is reached.
    """

    def __init__(self, rt_ref: Callable[[], Runtime | None], guard: AccessGuard) -> None:
        self._rt_ref = rt_ref  # a callable returning the Runtime, set after startup
        self._guard = guard

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Authenticate /api requests; put the key on req.context."""
        if not req.path.startswith("/api/"):
            return
        rt = self._rt_ref()
        if rt is None:
            raise AdminError(503, "ccbridge is starting", "STARTING")
        guard = self._guard
        guard.refresh(rt.snapshot)
        address = req.remote_addr or ""
        decision = guard.admin_hit(address)
        if not decision.allowed:
            raise AdminError(
                429,
                "Request rate limit exceeded, please try again later",
                "RATE_LIMITED",
                headers=decision.headers(),
            )
        key = rt.auth.identify(req.headers, req.params)
        if key is None:
            guard.record_failure(address)
            raise AdminError(401, "Invalid or missing access key", "UNAUTHORIZED")
        guard.clear_failures(address)
        if not key.is_admin and not _endpoint_allowed(key, req):
            raise AdminError(403, "Admin privileges required", "ADMIN_REQUIRED")
        req.context.key = key
        req.context.body_limit = rt.settings.api_max_body_mb * _MIB


def _endpoint_allowed(key: ClientKey, req: falcon.asgi.Request) -> bool:
    endpoint = _ENDPOINT_PATHS.get(req.path) if req.method == "GET" else None
    if endpoint is None or key.allowed_endpoints is None:
        return False
    if check_endpoint(key, endpoint) is not None:
        raise AdminError(403, f"Endpoint {req.path} not allowed", "ENDPOINT_NOT_ALLOWED")
    return True


def admin_key(req: falcon.asgi.Request) -> ClientKey:
    """Return the authenticated admin key of a request."""
    key: ClientKey = req.context.key  # set by the admin guard (falcon's Context is untyped)
    return key


def set_etag(resp: falcon.asgi.Response, revision: int) -> None:
    """Send the config revision as the entity tag."""
    resp.set_header("ETag", f'"{revision}"')


def reply(
    resp: falcon.asgi.Response, media: Any, revision: int | None = None, status: int = 200
) -> None:
    """Answer with JSON, and the config revision as ETag when given."""
    resp.status = status
    resp.media = media
    if revision is not None:
        set_etag(resp, revision)


async def read_config(rt: Runtime, read: Callable[[Daos], Awaitable[T]]) -> tuple[T, int]:
    """Run ``read`` in one read-only transaction; return it and the revision."""
    return await rt.config.read(read)


async def write_config(
    req: falcon.asgi.Request, rt: Runtime, change: Callable[[Daos], Awaitable[T]]
) -> tuple[T, int]:
    """Apply ``change`` as one config write based on the request's If-Match.

    Returns:
        What ``change`` returned, and the new config revision.

    Raises:
        StaleRevision: If-Match names another revision (409, nothing written).
        AdminError: Raised by ``change``; the transaction is rolled back.
    """
    async with rt.config.write(if_match(req)) as write:
        result = await change(write.tx)
    return result, write.revision


def if_match(req: falcon.asgi.Request) -> int | None:
    """Return the revision a write is based on, or None for any.

    Accepts ``"N"``, ``N``, ``W/"N"``, ``*`` and comma lists (every entry
    must name the same revision); anything else is a 409, as in the
    reference, because the client's view cannot be trusted.
    """
    raw = req.get_header("If-Match")
    if raw is None or raw.strip() == "*":
        return None
    revisions = set()
    for part in raw.split(","):
        match = _ETAG.match(part.strip())
        if match is None:
            raise AdminError(409, f"If-Match {raw!r} is not a config revision", "STALE_REVISION")
        revisions.add(int(match.group(1)))
    if len(revisions) != 1:
        raise AdminError(409, "If-Match names several revisions", "STALE_REVISION")
    return revisions.pop()


async def read_raw(req: falcon.asgi.Request) -> bytes:
    """Return the body of a request, or raise 413 when it is over the limit.

    The limit is checked before the body is read whole: a declared length
    at once, a chunked body once it has grown past it.
    """
    limit = getattr(req.context, "body_limit", _DEFAULT_BODY_LIMIT)
    if (req.content_length or 0) > limit:
        raise AdminError(413, f"body is larger than {limit // 2**20} MB", "BODY_TOO_LARGE")
    raw: bytes = await req.stream.read(limit + 1)
    if len(raw) > limit:
        raise AdminError(413, f"body is larger than {limit // 2**20} MB", "BODY_TOO_LARGE")
    return raw


async def body_object(req: falcon.asgi.Request) -> dict[str, Any]:
    """Return the JSON object body of a request, or raise 400 (413 if too large)."""
    raw = await read_raw(req)
    try:
        data = json.loads(raw) if raw else None
    except RecursionError:
        raise AdminError(400, "body is nested too deeply", "INVALID_JSON") from None
    except ValueError as ex:
        raise AdminError(400, f"body is not valid JSON: {ex}", "INVALID_JSON") from None
    if not isinstance(data, dict):
        raise AdminError(400, "body must be a JSON object", "INVALID_BODY")
    return data


def opt(
    data: Mapping[str, Any], name: str, kind: type | tuple[type, ...], default: Any = None
) -> Any:
    """Return an optional field of a body, type-checked (422 if wrong)."""
    if name not in data or data[name] is None:
        return default
    value = data[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise AdminError(422, f"'{name}' must be {_names(kinds)}", "INVALID_FIELD", field=name)
    if not isinstance(value, kinds):
        raise AdminError(422, f"'{name}' must be {_names(kinds)}", "INVALID_FIELD", field=name)
    return value


def _names(kinds: tuple[type, ...]) -> str:
    words = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
        list: "a list",
        dict: "an object",
    }
    return " or ".join(words.get(k, k.__name__) for k in kinds)
