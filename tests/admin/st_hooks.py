"""Schemathesis hooks for the property run of test_openapi.py (loaded by the CLI).

Generated writes to /api/ratelimit (and its reset), restores (a backup holds
the `ratelimit` setting), rollbacks to an earlier revision and any other
write that brings back older settings can switch the /api limit or the
auth-failure guard on, which would mask every later case behind 429s. So
after every write that succeeded (a refused one changes nothing) the limits
are switched off again, from a loopback address of its own (the limit and
the guard count per client address).
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import sys
from typing import Any
from urllib.parse import urlsplit

import schemathesis
from hypothesis.internal import lambda_sources

# CPython 3.11.7 fails ast.parse deep in a recursion ("AST constructor recursion depth
# mismatch", a SystemError) when Hypothesis describes a lambda (for display only) while
# drawing a deeply nested body such as the backup document. The run would then error in the
# tool itself, not in ccbridge; describe lambdas without parsing their source instead.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))


def _plain_description(f: Any) -> str:
    return "lambda: <unknown>"


lambda_sources._lambda_description = _plain_description

OFF = {
    "api": {"enabled": False, "requestsPerMinute": 0},
    "portal": {"enabled": False, "requestsPerMinute": 0},
    "authFailure": {"enabled": False, "thresholds": []},
}
_ADDRESSES = itertools.count(0)


def source_address(n: int) -> str:
    """Return the n-th address the hook calls from: 127.1.0.1, 127.1.0.2, …

    Never in 127.0.x.y: 127.0.0.1 is the test client's own address, and the
    limit and the guard count per address, so the hook must not share it.
    """
    host, n = n % 254 + 1, n // 254
    return f"127.{1 + (n // 256) % 254}.{n % 256}.{host}"


def limits_off(url: str, key: str) -> None:
    """PUT /api/ratelimit with every limit off, from a fresh 127.1.x.y address."""
    source = source_address(next(_ADDRESSES))
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=15, source_address=(source, 0)
    )
    try:
        conn.request(
            "PUT",
            "/api/ratelimit",
            body=json.dumps(OFF),
            headers={"x-api-key": key, "content-type": "application/json"},
        )
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"switching limits off: {resp.status} {body[:300]!r}")
    finally:
        conn.close()


def _wrote(case: Any, response: Any) -> bool:
    """Whether the call was a write that succeeded (and so may have set the limits)."""
    return case.method.upper() != "GET" and 200 <= response.status_code < 300


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    if _wrote(case, response):
        limits_off(os.environ["CCBRIDGE_ST_URL"], os.environ["CCBRIDGE_ST_KEY"])


@schemathesis.hook
def filter_query(context: Any, query: Any) -> bool:
    """GET /api/logs: a cursor is an opaque token only the server issues.

    Any string fits its schema, but the server rightly refuses one it did not
    issue (400 INVALID_CURSOR); generated cursors are left out, paging by
    cursor is tested in test_logs_api.py.
    """
    operation = context.operation
    if operation is None or operation.path != "/api/logs" or not isinstance(query, dict):
        return True
    return not query.get("cursor")
