"""Per-channel content filter: keyword hits in 2xx answers (spec §3.6).

A hit turns a 2xx answer into a synthetic error (the rule's status,
default 429, and a `content_filter_match` body) that then goes through
the failover rules like any non-2xx upstream answer.

What is matched: the answer bytes decoded as UTF-8 (bad bytes replaced),
case-folded, so keys and metadata of a JSON body or SSE stream count as
much as its text. When the text holds a backslash, it is also matched
after decoding JSON string escapes (``\\u00e9``, ``\\"``, ``\\n``...), so a
keyword the upstream sent escaped is found too. Rules are tried in order,
the first whose keyword occurs wins; empty keywords are ignored.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Final

from ccbridge.store.snapshot import ContentFilter, ContentFilterRule

__all__ = ("HOLD_LIMIT", "ERROR_TYPE", "find_match", "is_active", "synthetic_body")

ERROR_TYPE: Final = "content_filter_match"
# A stream held for the filter goes out once this much came without any
# text (e.g. a long tool call): it is checked, then relayed unfiltered.
HOLD_LIMIT: Final = 1 << 20

_ESCAPE_RE: Final = re.compile(
    r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"  # a surrogate pair
    r"|\\u([0-9a-fA-F]{4})"
    r'|\\(["\\/bfnrt])'
)
_SIMPLE_ESCAPES: Final = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


def is_active(content_filter: ContentFilter | None) -> bool:
    """Return True when a filter is enabled and has a keyword."""
    return content_filter is not None and content_filter.enabled and bool(_needles(content_filter))


def find_match(data: bytes | bytearray, content_filter: ContentFilter) -> ContentFilterRule | None:
    """Return the first rule whose keyword occurs in data, or None."""
    needles = _needles(content_filter)
    if not needles or not data:
        return None
    raw = bytes(data).decode("utf-8", "replace")
    text = raw.casefold()
    unescaped = _unescape(raw).casefold() if "\\" in raw else ""
    for needle, rule in needles:
        if needle in text or (unescaped and needle in unescaped):
            return rule
    return None


def synthetic_body(rule: ContentFilterRule) -> bytes:
    """Return the error body that replaces a filtered answer."""
    error = {
        "message": f"content_filter: {rule.keyword}",
        "type": ERROR_TYPE,
        "keyword": rule.keyword,
    }
    return json.dumps({"error": error}, ensure_ascii=False, separators=(",", ":")).encode()


# PERF(proxy): the snapshot's filters are immutable; fold their keywords once.
@functools.lru_cache(maxsize=256)
def _needles(content_filter: ContentFilter) -> tuple[tuple[str, ContentFilterRule], ...]:
    return tuple((r.keyword.casefold(), r) for r in content_filter.rules if r.keyword)


def _unescape(text: str) -> str:
    """Return text with JSON string escapes decoded (others left as they are)."""
    return _ESCAPE_RE.sub(_unescape_one, text)


def _unescape_one(match: re.Match[str]) -> str:
    high, low, single, simple = match.groups()
    if high is not None:
        return chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00))
    if single is not None:
        return chr(int(single, 16))
    return _SIMPLE_ESCAPES[simple]
