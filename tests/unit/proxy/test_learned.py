"""Key order after a rate limit (spec §3.6)."""

from __future__ import annotations

from ccbridge.proxy.learned import demoted


def test_demoted_keys_go_last_in_their_order() -> None:
    assert demoted(("a", "b", "c", "d"), ["c", "a"]) == ("b", "d", "a", "c")
    assert demoted(("a", "b"), []) == ("a", "b")
    assert demoted(("a", "b"), ["gone"]) == ("a", "b")
