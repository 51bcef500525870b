"""Where a client's key is read from (spec §3.2)."""

from __future__ import annotations

from ccbridge.access.auth import client_secret


def test_header_sources_in_the_reference_order() -> None:
    headers = {"x-goog-api-key": "goog", "authorization": "Bearer bearer"}
    assert client_secret(headers, {"key": "query"}) == "goog"
    assert client_secret({"authorization": "Bearer  tok "}, {}) == "tok"
    assert client_secret({"authorization": "raw-token"}, {}) == "raw-token"


def test_query_key_last_and_a_repeated_one_counts_once() -> None:
    assert client_secret({}, {"key": " k1 "}) == "k1"
    assert client_secret({}, {"key": ["k1", "k2"]}) == "k1"  # ?key=k1&key=k2
    assert client_secret({}, {"key": []}) is None
    assert client_secret({}, {}) is None
