from __future__ import annotations

import json

import pytest

from ccbridge.proxy.contentfilter import find_match, is_active, synthetic_body
from ccbridge.store.snapshot import ContentFilter, ContentFilterRule


def _filter(*keywords: str | tuple[str, int], enabled: bool = True) -> ContentFilter:
    rules = tuple(
        ContentFilterRule(*k) if isinstance(k, tuple) else ContentFilterRule(k) for k in keywords
    )
    return ContentFilter(enabled=enabled, rules=rules)


def test_keyword_is_found_whatever_its_case() -> None:
    rule = find_match(b'{"text":"this is FORBIDDEN here"}', _filter("Forbidden"))
    assert rule == ContentFilterRule("Forbidden", 429)


def test_no_keyword_no_match() -> None:
    assert find_match(b'{"text":"all clean"}', _filter("forbidden", "quota")) is None


def test_first_rule_in_order_wins() -> None:
    cf = _filter(("quota", 403), ("limit", 429))
    assert find_match(b"limit reached, quota gone", cf) == ContentFilterRule("quota", 403)
    assert find_match(b"limit reached", cf) == ContentFilterRule("limit", 429)


def test_empty_keywords_are_ignored() -> None:
    cf = _filter("", "gone")
    assert find_match(b"anything", cf) is None
    assert find_match(b"long gone", cf) == ContentFilterRule("gone")
    assert not is_active(_filter(""))


def test_is_active_needs_enabled_and_a_keyword() -> None:
    assert is_active(_filter("x"))
    assert not is_active(_filter("x", enabled=False))
    assert not is_active(ContentFilter(enabled=True))
    assert not is_active(None)


def test_non_ascii_keyword_is_found_plain_and_json_escaped() -> None:
    cf = _filter("Überlastet")
    assert find_match('{"text":"system überlastet"}'.encode(), cf) is not None
    escaped = json.dumps({"text": "System ÜBERLASTET"}).encode()  # ensure_ascii: \u00dc
    assert b"\\u00dc" in escaped.lower()
    assert find_match(escaped, cf) is not None


def test_astral_keyword_is_found_json_escaped() -> None:
    escaped = json.dumps({"text": "go 🚫 away"}).encode()  # a surrogate pair
    assert find_match(escaped, _filter("🚫")) is not None


@pytest.mark.parametrize(
    ("body", "keyword", "found"),
    [
        (b'{"text":"say \\"stop\\" now"}', '"stop"', True),  # escaped quotes
        (b'{"text":"line one\\nstop"}', "one\nstop", True),  # an escaped newline
        (b'{"text":"a \\\\u0073top"}', "stop", False),  # decoded: a \u0073top, no "stop"
    ],
)
def test_json_string_escapes_are_decoded(body: bytes, keyword: str, found: bool) -> None:
    assert (find_match(body, _filter(keyword)) is not None) is found


def test_invalid_utf8_does_not_hide_a_keyword() -> None:
    assert find_match(b"\xff\xfe blocked \xc3", _filter("BLOCKED")) is not None


def test_empty_data_never_matches() -> None:
    assert find_match(b"", _filter("x")) is None


def test_synthetic_body_names_the_keyword() -> None:
    body = synthetic_body(ContentFilterRule("Verboten ü", 451))
    assert (
        body
        == (
            '{"error":{"message":"content_filter: Verboten ü",'
            '"type":"content_filter_match","keyword":"Verboten ü"}}'
        ).encode()
    )
