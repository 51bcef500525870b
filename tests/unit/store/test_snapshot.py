from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from ccbridge.store.loader import build_snapshot
from ccbridge.store.snapshot import (
    DEFAULT_RATELIMIT,
    INVALID_PARSE_SENTINEL,
    Channel,
    ClientKey,
    OAuthTokens,
    Price,
    PriceMultiplier,
    PriceTable,
    RateLimitConfig,
    Snapshot,
    channel_allowlist_from_raw,
)
from generated.rows import SettingsRow
from tests.unit.proxy.helpers import make_channel


def test_channel_normalises_and_freezes_fields() -> None:
    source = {"claude-3": "x", "claude": "y", "": "ignored"}
    ch = Channel(
        uid="c1",
        pool="messages",
        index=0,
        name="One",
        service_type="claude",
        status="",
        api_keys=("k1", "", "k2"),
        model_mapping=source,
        price_multipliers={"_default": PriceMultiplier(), "claude-opus": PriceMultiplier()},
    )
    source["late"] = "z"  # the channel keeps its own copy
    assert ch.status == "active"
    assert ch.api_keys == ("k1", "k2")
    assert "late" not in ch.model_mapping
    assert ch.mapping_sources == ("claude-3", "claude")
    assert ch.multiplier_prefixes == ("claude-opus",)
    with pytest.raises(TypeError):
        ch.model_mapping["new"] = "v"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ch.name = "other"  # type: ignore[misc]


def test_channel_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="pool"):
        Channel(uid="c", pool="nope", index=0, name="n", service_type="claude")
    with pytest.raises(ValueError, match="status"):
        Channel(uid="c", pool="messages", index=0, name="n", service_type="claude", status="x")
    with pytest.raises(ValueError, match="uid"):
        Channel(uid="", pool="messages", index=0, name="n", service_type="claude")


def test_channel_properties() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    ch = make_channel("a", index=3, promotion_until=now + timedelta(seconds=1))
    assert ch.effective_priority == 3
    assert dataclasses.replace(ch, priority=7).effective_priority == 7
    assert ch.in_promotion(now) and not ch.in_promotion(now + timedelta(seconds=1))
    oauth = make_channel(
        "o", "responses", service_type="openai-oauth", api_keys=(), oauth_tokens=OAuthTokens("t")
    )
    assert oauth.has_credentials
    assert not make_channel("n", api_keys=()).has_credentials
    assert make_channel("comp", service_type="composite", api_keys=()).has_credentials


def test_build_reindexes_and_indexes_lookups() -> None:
    a = make_channel("a", priority=2)
    b = make_channel("b", status="disabled")
    c = make_channel("c", priority=1)
    key = ClientKey(id=7, name="k", key_hash="h7")
    snap = Snapshot.build(
        revision=4,
        channels={"messages": [a, b, c], "responses": [make_channel("r", "responses")]},
        keys=[key],
        load_balance={"messages": "round-robin"},
    )
    assert [ch.index for ch in snap.pool("messages")] == [0, 1, 2]
    assert snap.channels_by_uid["c"].index == 2
    # c has priority 1, a priority 2; disabled b is left out.
    assert [ch.uid for ch in snap.by_priority["messages"]] == ["c", "a"]
    assert snap.live_count("messages") == 2
    assert snap.keys_by_hash["h7"] is snap.keys_by_id[7]
    # Empty responses strategy inherits messages; others default to failover.
    assert snap.strategy("responses") == "round-robin"
    assert snap.strategy("chat") == "failover"
    assert snap.pool("gemini") == ()


def test_build_rejects_duplicate_uids_and_bad_strategy() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Snapshot.build(
            channels={
                "messages": [make_channel("a")],
                "responses": [make_channel("a", "responses")],
            }
        )
    with pytest.raises(ValueError, match="load balance"):
        Snapshot.build(load_balance={"messages": "fastest"})


def test_client_key_normalises_permissions() -> None:
    key = ClientKey(
        id=1,
        name="k",
        allowed_endpoints=frozenset({"Messages", " "}),
        allowed_models=("Claude-*", "claude-*", ""),
        allowed_channels={"messages": frozenset({"a"}), "responses": frozenset()},
    )
    assert key.allowed_endpoints == frozenset({"messages"})
    assert key.allowed_models == ("claude-*",)
    assert key.channel_allowlist("messages") == frozenset({"a"})
    assert key.channel_allowlist("responses") is None
    assert ClientKey(id=2, name="open", allowed_models=()).allowed_models is None
    master = ClientKey.master()
    assert master.is_master and master.is_admin and master.name == "master"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        ("null", None),
        ("[]", None),
        ('["b", "a"]', frozenset({"a", "b"})),
        ([0, 5, "z"], frozenset({"a", "__invalid_idx_5__", "z"})),
        ("[1", frozenset({INVALID_PARSE_SENTINEL})),
        ('{"a": 1}', frozenset({INVALID_PARSE_SENTINEL})),
        ([True], frozenset({INVALID_PARSE_SENTINEL})),
    ],
)
def test_channel_allowlist_from_raw_fails_closed(raw: object, expected: object) -> None:
    pool = (make_channel("a"), make_channel("b", index=1))
    assert channel_allowlist_from_raw(raw, pool) == expected


def test_price_defaults_and_table_index() -> None:
    price = Price(input_price=4.0, output_price=8.0)
    assert price.effective_cache_creation == 5.0
    assert price.effective_cache_read == pytest.approx(0.4)
    assert Price(1.0, 1.0, cache_creation_price=0.0).effective_cache_creation == 0.0
    table = PriceTable(
        {
            "gpt-5": price,
            "GPT-5": price,
            "claude-opus-4": dataclasses.replace(price, export_to_models=False),
        }
    )
    assert table.id_lengths == (13, 5)
    assert table.lower_ids["gpt-5"] == "GPT-5"  # smallest spelling wins
    assert table.exported_models() == ("GPT-5", "gpt-5")


def _limits(value: str | None) -> RateLimitConfig:
    rows = [SettingsRow(key="config_revision", value="3")]
    if value is not None:
        rows.append(SettingsRow(key="ratelimit", value=value, category="config"))
    return build_snapshot(rows, [], [], []).ratelimit


def test_ratelimit_setting_is_part_of_the_snapshot() -> None:
    assert _limits(None) == RateLimitConfig() == RateLimitConfig.parse(DEFAULT_RATELIMIT)
    assert RateLimitConfig() == RateLimitConfig(100, 60, ((20, 1800.0), (10, 300.0), (5, 60.0)))
    # Sections are replaced whole; missing ones keep their defaults.
    assert _limits('{"api": {"enabled": true, "requestsPerMinute": 7}}') == RateLimitConfig(7)
    off = _limits(
        '{"api": {"enabled": false, "requestsPerMinute": 7}, "portal": {"enabled": true},'
        ' "authFailure": {"enabled": false, "thresholds": [{"failures": 1, "blockMinutes": 1}]}}'
    )
    assert off == RateLimitConfig(api_rpm=0, portal_rpm=0, thresholds=())
    # A malformed row means the defaults (as the guard always read it), never a failed
    # load; a malformed section or value turns that part off.
    assert _limits("not json") == RateLimitConfig()
    assert _limits("[1]") == RateLimitConfig()
    assert _limits('{"api": 5}') == RateLimitConfig(api_rpm=0)
    assert _limits('{"authFailure": {"enabled": true, "thresholds": 3}}').thresholds == ()
    assert _limits('{"api": {"enabled": true, "requestsPerMinute": Infinity}}').api_rpm == 0
