"""Schemathesis hooks for the property run of test_openapi.py (loaded by the CLI).

Generated writes to /api/ratelimit can switch the /api limit or the
auth-failure guard on, which would mask every later case behind 429s. After
any such call the limits are switched off again, from a loopback address of
its own (the limit and the guard count per client address).
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

# CPython 3.11.7 fails ast.parse deep in a recursion ("AST constructor recursion depth
# mismatch") when Hypothesis describes a lambda while drawing a deeply nested body (the
# backup document); more headroom keeps the run from erroring in the tool itself.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))

OFF = {
    "api": {"enabled": False, "requestsPerMinute": 0},
    "portal": {"enabled": False, "requestsPerMinute": 0},
    "authFailure": {"enabled": False, "thresholds": []},
}
_ADDRESSES = itertools.count(1)


def limits_off(url: str, key: str) -> None:
    """PUT /api/ratelimit with every limit off, from a fresh 127.x.y.z address."""
    n = next(_ADDRESSES)
    source = f"127.{(n >> 16) % 256}.{(n >> 8) % 256}.{n % 256 or 1}"
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


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    if case.path.startswith("/api/ratelimit") and case.method.upper() != "GET":
        limits_off(os.environ["CCBRIDGE_ST_URL"], os.environ["CCBRIDGE_ST_KEY"])
