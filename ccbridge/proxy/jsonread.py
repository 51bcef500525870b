"""JSON parsing on the request path: orjson, with the stdlib as a fallback.

orjson parses the bodies the proxy reads on every request (the client's
request, a non-streamed reply, SSE events) several times faster than
`json`. It refuses a few inputs the stdlib accepts (NaN/Infinity, lone
surrogates); those go to `json`, so nothing a client could send before is
refused now. orjson reads integers beyond 64 bits as floats: fine for the
fields the proxy looks at, so never re-serialise a body parsed here (the
relay re-reads the raw bytes with `json` when it rewrites the model).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ("loads",)


def loads(data: bytes | bytearray | str) -> Any:
    """Parse JSON text; raise ValueError (as `json.loads` does) when invalid."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(data)
    except RecursionError:  # nested deeper than the stack: bad input, not a crash
        raise ValueError("JSON nested too deeply") from None
