"""config.json → rows: every field, every pool, the Go loader's fix-ups."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from ccbridge.legacy.config_json import (
    DEFAULT_MESSAGES_USER_AGENT,
    DEFAULT_RESPONSES_USER_AGENT,
    parse_config,
)
from ccbridge.legacy.errors import LegacyImportError
from tests.legacy.legacy_files import FIXTURES, full_config

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def parse(config: dict[str, Any]) -> Any:
    return parse_config(json.dumps(config).encode(), now=NOW)


def settings(result: Any) -> dict[str, Any]:
    values = {}
    for row in result.settings:
        assert row.category == "config"
        values[row.key] = row.value if row.key.endswith("load_balance") else json.loads(row.value)
    return values


def test_default_config_fixture() -> None:
    result = parse_config((FIXTURES / "default-config.json").read_bytes(), now=NOW)
    assert result.channels == ()
    assert settings(result) == {
        "messages_load_balance": "failover",
        "responses_load_balance": "failover",
        "gemini_load_balance": "failover",
        "chat_load_balance": "failover",
        "debug_log": {
            "enabled": False,
            "retentionHours": 0,
            "fullRetentionHours": 0,
            "headerRetentionHours": 0,
            "headerRetentionForever": False,
            "maxBodySize": 0,
        },
        "failover": {"enabled": False, "rules": None},
        "user_agent": {
            "messages": {"latest": DEFAULT_MESSAGES_USER_AGENT},
            "responses": {"latest": DEFAULT_RESPONSES_USER_AGENT},
        },
        "outbound_header_policy": {
            "enabled": True,
            "stripRules": ["Cf-*", "X-Forwarded-*"],
            "initialized": True,
        },
        "responses_websocket": {"enabled": False},
    }


def test_every_field_of_a_channel() -> None:
    alpha = parse(full_config()).channels[0]
    assert alpha.channel_id == "a1a1a1a1"
    assert (alpha.channel_type, alpha.name, alpha.service_type) == ("messages", "Alpha", "claude")
    assert alpha.base_url == "https://api.anthropic.com"
    assert alpha.api_keys == ["sk-ant-secret-1", "sk-ant-secret-2"]
    assert (alpha.description, alpha.website) == ("primary", "https://example.com")
    assert alpha.insecure_skip_verify is True
    assert alpha.model_mapping == {"opus": "claude-opus-4-5"}
    assert alpha.response_header_timeout == 90
    assert alpha.priority == 3
    assert alpha.status == "active"
    assert alpha.promotion_until == datetime(2030, 1, 2, 1, 4, 5, 123456, tzinfo=UTC)
    assert alpha.price_multipliers == {
        "_default": {
            "inputMultiplier": 1.5,
            "outputMultiplier": 1.25,
            "cacheCreationMultiplier": 0.5,
            "cacheReadMultiplier": 0.25,
        },
        "claude-": {"outputMultiplier": 2.0},
    }
    assert (alpha.quota_type, alpha.quota_limit) == ("credit", 100.5)
    assert alpha.quota_reset_at == datetime(2030, 2, 1, tzinfo=UTC)
    assert (alpha.quota_reset_interval, alpha.quota_reset_unit) == (1, "months")
    assert (alpha.quota_models, alpha.quota_reset_mode) == (["opus"], "rolling")
    assert (alpha.rate_limit_rpm, alpha.queue_enabled, alpha.queue_timeout) == (30, True, 45)
    assert alpha.key_load_balance == "round-robin"
    assert alpha.content_filter == {
        "enabled": True,
        "rules": [{"keyword": "quota", "statusCode": 429}],
    }
    # Kept only for responses-pool channels (Go's normalisation).
    assert alpha.codex_service_tier_override == "off"
    assert alpha.continue_thinking_enabled is False
    assert alpha.responses_encrypted_reasoning_mode is None
    assert alpha.responses_websocket_enabled is False
    assert alpha.oauth_tokens is None
    assert (alpha.created_at, alpha.updated_at) == (NOW, NOW)


def test_all_pools_in_order_with_defaults() -> None:
    result = parse(full_config())
    assert [(c.channel_type, c.name) for c in result.channels] == [
        ("messages", "Alpha"),
        ("messages", "Beta"),
        ("messages", "Combo"),
        ("messages", "Keyless"),
        ("responses", "Codex OAuth"),
        ("responses", "Resp"),
        ("gemini", "Gem"),
        ("chat", "Chatty"),
    ]
    beta = result.channels[1]
    assert (beta.priority, beta.response_header_timeout, beta.queue_timeout) == (0, 120, 60)
    assert beta.quota_reset_mode == "fixed"
    assert (beta.description, beta.model_mapping, beta.content_filter) == (None, None, None)
    codex, resp = result.channels[4], result.channels[5]
    assert codex.oauth_tokens == {
        "access_token": "tok",
        "account_id": "acc",
        "id_token": "idt",
        "refresh_token": "r",
        "last_refresh": "2025-12-01T08:00:00Z",
    }
    assert codex.codex_service_tier_override == "force_default"
    assert codex.continue_thinking_enabled is True
    assert codex.responses_encrypted_reasoning_mode is None  # only for serviceType responses
    assert resp.responses_encrypted_reasoning_mode == "always"  # legacy "on"
    assert resp.responses_websocket_enabled is True
    # Statuses are set, so currentResponsesUpstream (1) changes nothing.
    assert (codex.status, resp.status) == ("active", "disabled")
    assert result.channels[6].status == "suspended"
    # The legacy keyword list is kept as written; the loader expands it.
    assert result.channels[7].content_filter == {
        "enabled": True,
        "keywords": ["blocked", ""],
        "statusCode": 451,
    }
    assert all(c.id is None for c in result.channels)


def test_generated_ids_are_unique_hex_and_reported() -> None:
    result = parse(full_config())
    ids = [c.channel_id for c in result.channels]
    assert len(set(ids)) == len(ids)
    generated = [i for i in ids if i not in ("a1a1a1a1", "c0c0c0c0", "0a0a0a0a")]
    assert len(generated) == 5
    assert all(len(i) == 8 and int(i, 16) >= 0 for i in generated)
    assert sum("generated id" in n for n in result.notes) == 5


def test_fix_ups() -> None:
    result = parse(full_config())
    by_name = {c.name: c for c in result.channels}
    assert by_name["Keyless"].status == "suspended"  # active without keys
    assert by_name["Combo"].status == "active"  # composite needs no keys
    # Legacy responsesWebSocket moved to the openai-oauth channel.
    assert by_name["Codex OAuth"].responses_websocket_enabled is True
    mappings = by_name["Combo"].composite_mappings
    assert mappings[0] == {
        "pattern": "haiku",
        "failoverChain": ["a1a1a1a1"],
        "targetChannelId": by_name["Beta"].channel_id,
    }
    assert mappings[1] == {"pattern": "sonnet", "targetChannelId": "a1a1a1a1"}
    assert mappings[2] == {"pattern": "opus", "targetChannelId": "a1a1a1a1"}
    assert mappings[3] == {
        "pattern": "gpt",
        "targetPool": "responses",
        "targetModel": "gpt-5.1-codex",
        "failoverTargets": [
            {"pool": "messages", "channelId": "a1a1a1a1"},
            {"pool": "responses", "channelId": "0a0a0a0a"},
        ],
        "targetChannelId": "0a0a0a0a",  # position 0 of the responses pool
    }
    assert mappings[4] == {"pattern": "ghost", "targetChannel": 9}
    assert any(
        n.startswith("$.upstream[2].compositeMappings[4]: legacy target index matches no")
        for n in result.notes
    )
    values = settings(result)
    assert values["responses_load_balance"] == "round-robin"  # inherits loadBalance
    assert values["gemini_load_balance"] == "random"
    assert values["failover"] == {
        "enabled": True,
        "genericResourceWaitSeconds": 25,
        "modelCooldownExtraSeconds": 2,
        "modelCooldownMaxWaitSeconds": 30,
        "rules": [
            {
                "errorCodes": "429",
                "actionChain": [{"action": "retry", "maxAttempts": 3}, {"action": "failover"}],
            },
            {
                "errorCodes": "500",
                "actionChain": [
                    {"action": "retry", "waitSeconds": 7, "maxAttempts": 99},
                    {"action": "failover"},
                ],
            },
            {"errorCodes": "403", "actionChain": [{"action": "suspend"}]},
            {"errorCodes": "401", "actionChain": [{"action": "failover"}]},
            {
                "errorCodes": "429:model_cooldown,502",
                "actionChain": [
                    {"action": "retry", "waitSeconds": 3, "maxAttempts": 4},
                    {"action": "failover"},
                ],
            },
            {"errorCodes": "others", "actionChain": [{"action": "none"}]},
        ],
    }
    assert values["user_agent"] == {
        "messages": {"latest": DEFAULT_MESSAGES_USER_AGENT},
        "responses": {"latest": "codex_cli_rs/0.80.1 (Mac)", "lastCapturedAt": "2025-01-01"},
    }
    assert values["outbound_header_policy"] == {
        "enabled": False,
        "stripRules": ["X-Foo"],
        "initialized": True,
    }
    assert values["responses_websocket"] == {"enabled": False}
    assert {
        "$.userAgent.messages.latest: invalid, replaced by the default",
        "$.responsesWebSocket.enabled: moved to the openai-oauth responses channels",
        "$.upstream[3]: no key configured, suspended",
        "$.failover.rules[0]: legacy action failover_threshold converted to an action chain",
    } <= set(result.notes)
    assert values["debug_log"] == {
        "enabled": True,
        "retentionHours": 12,
        "fullRetentionHours": 24,
        "headerRetentionHours": 168,
        "headerRetentionForever": True,
        "maxBodySize": 2048,
    }


def test_no_status_anywhere_activates_current_channel() -> None:
    config = {
        "upstream": [
            {"name": "a", "apiKeys": ["k"]},
            {"name": "b", "apiKeys": ["k"]},
            {"name": "c"},
        ],
        "currentUpstream": 1,
        "responsesUpstream": [{"name": "r", "apiKeys": ["k"]}, {"name": "s", "apiKeys": ["k"]}],
        "currentResponsesUpstream": 7,  # out of range: the first one
        "geminiUpstream": [{"name": "g", "apiKeys": ["k"]}],
    }
    statuses = [(c.name, c.status) for c in parse(config).channels]
    assert statuses == [
        ("a", "disabled"),
        ("b", "active"),
        ("c", "disabled"),
        ("r", "active"),
        ("s", "disabled"),
        ("g", "active"),
    ]


def test_openai_oauth_without_token_is_suspended() -> None:
    config = {
        "responsesUpstream": [
            {"name": "o1", "serviceType": "openai-oauth", "status": "active"},
            {"name": "o2", "serviceType": "openai-oauth", "oauthTokens": {"access_token": "t"}},
        ]
    }
    assert [c.status for c in parse(config).channels] == ["suspended", "active"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"upstream": [{"name": "a"}, {"name": "b"}, {"name": "c", "apiKeys": "k"}]},
            "config.json: $.upstream[2].apiKeys: expected a list of strings",
        ),
        (
            {"upstream": [{"name": "a", "apiKeys": ["k", 1]}]},
            "config.json: $.upstream[0].apiKeys: expected a list of strings",
        ),
        (
            {"chatUpstream": [{"name": "Dup"}, {"name": " dup "}]},
            "config.json: $.chatUpstream[1].name: duplicate channel name in this pool "
            "(also $.chatUpstream[0].name)",
        ),
        (
            {
                "upstream": [{"name": "a", "id": "x1"}],
                "geminiUpstream": [{"name": "b", "id": "x1"}],
            },
            "config.json: $.geminiUpstream[0].id: duplicate channel id (also $.upstream[0].id)",
        ),
        (
            {"upstream": [{"name": "a", "id": "__invalid_idx_1__"}]},
            "config.json: $.upstream[0].id: the id prefix __invalid_ is reserved",
        ),
        ({"upstream": {"name": "a"}}, "config.json: $.upstream: expected a list"),
        ([], "config.json: $: expected an object"),
        (
            {"upstream": [{"name": "a", "priority": "high"}]},
            "config.json: $.upstream[0].priority: expected an integer",
        ),
        (
            {"upstream": [{"name": "a", "priority": 1.5}]},
            "config.json: $.upstream[0].priority: expected an integer",
        ),
        (
            {"upstream": [{"name": "a", "queueEnabled": 1}]},
            "config.json: $.upstream[0].queueEnabled: expected true or false",
        ),
        (
            {"upstream": [{"name": "a", "status": "paused"}]},
            "config.json: $.upstream[0].status: expected one of active, suspended, disabled",
        ),
        (
            {"upstream": [{"name": "a", "promotionUntil": "tomorrow"}]},
            "config.json: $.upstream[0].promotionUntil: expected an RFC 3339 time string",
        ),
        (
            {"upstream": [{"name": "a", "modelMapping": {"x": 1}}]},
            "config.json: $.upstream[0].modelMapping: expected an object of strings",
        ),
        (
            {"failover": {"rules": [{"errorCodes": 429}]}},
            "config.json: $.failover.rules[0].errorCodes: expected a string",
        ),
        (
            {
                "upstream": [
                    {"name": "a", "compositeMappings": [{"failoverTargets": [{"pool": 1}]}]}
                ]
            },
            "config.json: $.upstream[0].compositeMappings[0].failoverTargets[0].pool: "
            "expected a string",
        ),
    ],
)
def test_bad_config_names_the_json_path(config: Any, message: str) -> None:
    with pytest.raises(LegacyImportError) as info:
        parse(config)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"upstream": [', "config.json: invalid JSON at line 1 column 15"),
        (b'{"upstream": [}', "config.json: invalid JSON at line 1 column 15"),
        (b"\xff\xfe{}", "config.json: not UTF-8 text"),
    ],
)
def test_malformed_or_truncated_json(data: bytes, message: str) -> None:
    with pytest.raises(LegacyImportError) as info:
        parse_config(data)
    assert str(info.value).startswith(message)


def test_errors_never_quote_keys() -> None:
    config = full_config()
    config["upstream"][0]["apiKeys"] = ["sk-ant-secret-1", {"nested": "sk-ant-secret-2"}]
    with pytest.raises(LegacyImportError) as info:
        parse(config)
    assert "secret" not in str(info.value)


# Reference §2.1: the config.json members, so the fixture keeps exercising each.
TOP_LEVEL = (
    "upstream currentUpstream loadBalance responsesUpstream currentResponsesUpstream "
    "responsesLoadBalance geminiUpstream geminiLoadBalance chatUpstream chatLoadBalance "
    "debugLog failover userAgent outboundHeaderPolicy responsesWebSocket"
).split()
CHANNEL = (
    "id baseUrl apiKeys serviceType name description website insecureSkipVerify "
    "modelMapping responseHeaderTimeout priority status promotionUntil priceMultipliers "
    "oauthTokens codexServiceTierOverride responsesEncryptedReasoningMode "
    "responsesWebSocketEnabled continueThinkingEnabled quotaType quotaLimit quotaResetAt "
    "quotaResetInterval quotaResetUnit quotaModels quotaResetMode rateLimitRpm queueEnabled "
    "queueTimeout compositeMappings keyLoadBalance contentFilter"
).split()
NESTED = {
    "priceMultipliers.*": "inputMultiplier outputMultiplier cacheCreationMultiplier "
    "cacheReadMultiplier",
    "oauthTokens": "access_token account_id id_token refresh_token last_refresh",
    "compositeMappings[]": "pattern targetChannelId targetPool failoverChain failoverTargets "
    "targetModel targetChannel",
    "compositeMappings[].failoverTargets[]": "pool channelId",
    "contentFilter": "enabled rules keywords statusCode",
    "contentFilter.rules[]": "keyword statusCode",
}
SETTINGS = {
    "debugLog": "enabled retentionHours fullRetentionHours headerRetentionHours "
    "headerRetentionForever maxBodySize",
    "failover": "enabled rules genericResourceWaitSeconds modelCooldownExtraSeconds "
    "modelCooldownMaxWaitSeconds",
    "failover.rules[]": "errorCodes actionChain action threshold waitSeconds",
    "failover.rules[].actionChain[]": "action waitSeconds maxAttempts",
    "userAgent.*": "latest lastCapturedAt",
    "outboundHeaderPolicy": "enabled stripRules initialized",
}


def _members(values: list[Any], path: str) -> set[str]:
    """Return the keys found under ``path`` (``a.b``, ``[]`` a list, ``*`` any key)."""
    for part in filter(None, path.replace("[]", ".[]").split(".")):
        nxt: list[Any] = []
        for value in values:
            if part == "[]":
                nxt.extend(value if isinstance(value, list) else [])
            elif part == "*":
                nxt.extend(value.values() if isinstance(value, dict) else [])
            elif isinstance(value, dict) and part in value:
                nxt.append(value[part])
        values = nxt
    return {key for value in values if isinstance(value, dict) for key in value}


def test_fixture_has_every_member_of_the_format() -> None:
    config = full_config()
    assert set(TOP_LEVEL) <= set(config)
    pools = ("upstream", "responsesUpstream", "geminiUpstream", "chatUpstream")
    channels = [c for pool in pools for c in config[pool]]
    assert all(config[pool] for pool in pools)  # every pool has a channel
    assert set(CHANNEL) <= _members(channels, "")
    for path, names in NESTED.items():
        assert set(names.split()) <= _members(channels, path), path
    for path, names in SETTINGS.items():
        assert set(names.split()) <= _members([config], path), path
