from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ccbridge.routing.rules import (
    Action,
    AttemptCounters,
    FailoverPolicy,
    ParsedError,
    compile_rules,
    decide,
    default_rules,
    format_failover_info,
    migrate_rule,
    normalize_rules,
    parse_error,
    suspend_until,
)
from ccbridge.store.snapshot import ActionStep, FailoverConfig, FailoverRule
from tests.unit.proxy.helpers import make_channel

# The Go version's built-in rules, transcribed in its config format.
FIXTURE = Path(__file__).parents[2] / "fixtures" / "legacy" / "default-failover-config.json"

QUOTA = b'{"error":{"status":"RESOURCE_EXHAUSTED","details":[{"reason":"QUOTA_EXHAUSTED"}]}}'
EXHAUSTED = b'{"status":"RESOURCE_EXHAUSTED","message":"busy"}'


def cooldown(reset: object = None) -> bytes:
    err: dict[str, object] = {"code": "model_cooldown", "message": "cool down"}
    if reset is not None:
        err["reset_seconds"] = reset
    return json.dumps({"error": err}).encode()


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (429, QUOTA, ParsedError(429, "QUOTA_EXHAUSTED", 0.0)),
        (429, cooldown(16.2), ParsedError(429, "model_cooldown", 18.0)),
        (429, cooldown(16), ParsedError(429, "model_cooldown", 17.0)),
        (429, cooldown(500), ParsedError(429, "model_cooldown", 60.0)),
        (429, cooldown(), ParsedError(429, "model_cooldown", 2.0)),
        (429, cooldown("16"), ParsedError(429, "model_cooldown", 2.0)),
        (429, EXHAUSTED, ParsedError(429, "RESOURCE_EXHAUSTED", 20.0)),
        (429, b'{"error":{"message":"slow down"}}', ParsedError(429)),
        (429, b"Too Many Requests", ParsedError(429)),
        (429, b"", ParsedError(429)),
        (
            403,
            b'{"error":{"message":"token quota is not enough, remain $0.2"}}',
            ParsedError(403, "CREDIT_EXHAUSTED"),
        ),
        (403, b'{"message":"Insufficient account QUOTA"}', ParsedError(403, "CREDIT_EXHAUSTED")),
        (403, b'{"error":{"message":"insufficient permissions"}}', ParsedError(403)),
        (500, QUOTA, ParsedError(500)),
    ],
)
def test_parse_error(status: int, body: bytes, expected: ParsedError) -> None:
    assert parse_error(status, body) == expected


def test_quota_reason_wins_over_cooldown_code() -> None:
    body = json.dumps(
        {
            "error": {
                "code": "model_cooldown",
                "reset_seconds": 3,
                "status": "RESOURCE_EXHAUSTED",
                "details": [{"reason": "QUOTA_EXHAUSTED"}],
            }
        }
    ).encode()
    assert parse_error(429, body).subtype == "QUOTA_EXHAUSTED"


def test_parse_error_uses_configured_waits() -> None:
    cfg = FailoverConfig(
        generic_resource_wait_seconds=7,
        model_cooldown_extra_seconds=3,
        model_cooldown_max_wait_seconds=10,
    )
    assert parse_error(429, EXHAUSTED, cfg).wait_seconds == 7.0
    assert parse_error(429, cooldown(4.5), cfg).wait_seconds == 8.0
    assert parse_error(429, cooldown(9), cfg).wait_seconds == 10.0


def test_format_failover_info() -> None:
    assert format_failover_info(429, "QUOTA_EXHAUSTED", "suspended", "next channel") == (
        "429:QUOTA_EXHAUSTED > suspended > next channel"
    )
    assert format_failover_info(400, "", "return_error") == "400 > return_error"


def run(policy: FailoverPolicy, status: int, body: bytes = b"{}", key: str = "k1"):
    return policy.decide("uid-1", key, status, body)


def test_default_generic_429_retries_three_times_then_fails_over() -> None:
    policy = FailoverPolicy()
    for attempt in (1, 2, 3):
        d = run(policy, 429)
        assert (d.action, d.wait_seconds, d.attempt, d.max_attempts) == (
            Action.RETRY,
            5.0,
            attempt,
            3,
        )
        assert d.failover_info == "429 > retry_wait > 5s"
        assert not d.mark_key_failed
    d = run(policy, 429)
    assert d.action is Action.FAILOVER
    assert d.mark_key_failed and d.deprioritize_key
    assert d.error_group == "429"
    assert d.failover_info == "429 > failover > next key"
    # The terminal step cleared the counter: the chain starts over.
    assert policy.counters.count("uid-1", "k1", "429") == 0
    assert run(policy, 429).action is Action.RETRY


def test_default_server_errors_retry_twice_then_fail_over() -> None:
    policy = FailoverPolicy()
    assert [run(policy, 502).action for _ in range(3)] == [
        Action.RETRY,
        Action.RETRY,
        Action.FAILOVER,
    ]
    failover = run(policy, 503), run(policy, 503), run(policy, 503)
    assert failover[2].failover_info == "503 > failover > next key"
    assert not failover[2].deprioritize_key  # only 429 keys move to the end


def test_529_behaves_like_503_unless_named() -> None:
    policy = FailoverPolicy()
    d = run(policy, 529)
    assert (d.action, d.error_group, d.wait_seconds) == (Action.RETRY, "503", 5.0)
    assert d.failover_info == "529 > retry_wait > 5s"
    named = FailoverPolicy(FailoverConfig(rules=(FailoverRule("529", (ActionStep("failover"),)),)))
    assert run(named, 529).action is Action.FAILOVER


def test_auth_errors_fail_over_at_once() -> None:
    policy = FailoverPolicy()
    d = run(policy, 401)
    assert d.action is Action.FAILOVER
    assert d.failover_info == "401 > auth_failed > next key"
    assert run(policy, 403, b'{"error":{"message":"forbidden"}}').action is Action.FAILOVER


def test_quota_and_credit_errors_suspend() -> None:
    policy = FailoverPolicy()
    d = run(policy, 429, QUOTA)
    assert d.action is Action.SUSPEND
    assert d.failover_info == "429:QUOTA_EXHAUSTED > suspended > next channel"
    assert d.reason == "QUOTA_EXHAUSTED"
    credit = run(policy, 403, b'{"error":{"message":"quota is not enough"}}')
    assert (credit.action, credit.error_group) == (Action.SUSPEND, "403:CREDIT_EXHAUSTED")


def test_cooldown_retry_uses_parsed_wait_99_times() -> None:
    policy = FailoverPolicy()
    first = run(policy, 429, cooldown(16.2))
    assert (first.action, first.wait_seconds) == (Action.RETRY, 18.0)
    assert first.failover_info == "429:model_cooldown > retry_wait > 18s"
    for _ in range(98):
        assert run(policy, 429, cooldown(1)).action is Action.RETRY
    assert run(policy, 429, cooldown(1)).action is Action.FAILOVER


def test_resource_exhausted_waits_twenty_seconds() -> None:
    d = run(FailoverPolicy(), 429, EXHAUSTED)
    assert (d.action, d.wait_seconds, d.error_group) == (
        Action.RETRY,
        20.0,
        "429:RESOURCE_EXHAUSTED",
    )


def test_unmatched_status_returns_the_error() -> None:
    policy = FailoverPolicy()
    d = run(policy, 400)
    assert d.action is Action.NONE
    assert d.reason == "no_matching_rule"
    assert d.failover_info == "400 > return_error"
    assert len(policy.counters) == 0


def test_counters_are_per_channel_key_and_group_and_reset_on_success() -> None:
    policy = FailoverPolicy()
    run(policy, 429, key="k1")
    run(policy, 429, key="k1")
    run(policy, 500, key="k1")
    run(policy, 429, key="k2")
    assert policy.counters.count("uid-1", "k1", "429") == 2
    assert policy.counters.count("uid-1", "k1", "500") == 1
    assert policy.counters.count("uid-1", "k2", "429") == 1
    assert policy.decide("uid-2", "k1", 429, b"").attempt == 1
    policy.record_success("uid-1", "k1")
    assert policy.counters.count("uid-1", "k1", "429") == 0
    assert policy.counters.count("uid-1", "k2", "429") == 1
    policy.reset_channel("uid-1")
    assert policy.counters.count("uid-1", "k2", "429") == 0
    assert policy.counters.count("uid-2", "k1", "429") == 1


def test_specific_subtype_rule_beats_earlier_plain_code() -> None:
    rules = (
        FailoverRule("429", (ActionStep("failover"),)),
        FailoverRule(" 429:MODEL_COOLDOWN ", (ActionStep("retry", 9, 1), ActionStep("none"))),
    )
    policy = FailoverPolicy(FailoverConfig(rules=rules))
    d = run(policy, 429, cooldown(1))
    assert (d.action, d.wait_seconds, d.error_group) == (Action.RETRY, 9.0, "429:model_cooldown")
    assert run(policy, 429, cooldown(1)).action is Action.NONE
    # A subtype without a specific rule falls back to the plain code.
    assert run(policy, 429, EXHAUSTED).action is Action.FAILOVER
    # Configured rules replace the defaults entirely.
    assert run(policy, 500).action is Action.NONE


@pytest.mark.parametrize(
    ("legacy", "chain"),
    [
        (FailoverRule("429", action="suspend_channel"), (ActionStep("suspend"),)),
        (FailoverRule("401", action="failover_immediate"), (ActionStep("failover"),)),
        (
            FailoverRule("500", action="failover_threshold", threshold=2),
            (ActionStep("retry", 0, 2), ActionStep("failover")),
        ),
        (
            FailoverRule("500", action="failover_threshold"),
            (ActionStep("retry", 0, 1), ActionStep("failover")),
        ),
        (
            FailoverRule("429", action="retry_wait", wait_seconds=30),
            (ActionStep("retry", 30, 99), ActionStep("failover")),
        ),
        (FailoverRule("502", action="mystery"), (ActionStep("failover"),)),
    ],
)
def test_migrate_legacy_rules(legacy: FailoverRule, chain: tuple[ActionStep, ...]) -> None:
    migrated = migrate_rule(legacy)
    assert migrated == FailoverRule(legacy.error_codes, chain)


def test_others_failover_is_defused() -> None:
    rules = normalize_rules(
        (
            FailoverRule("others", (ActionStep("retry", 5, 2), ActionStep("failover"))),
            FailoverRule("Others", action="failover_immediate"),
            FailoverRule("429", (ActionStep("failover"),)),
        )
    )
    assert rules[0].action_chain == (ActionStep("retry", 5, 2), ActionStep("none"))
    assert rules[1].action_chain == (ActionStep("none"),)
    assert rules[2].action_chain == (ActionStep("failover"),)
    policy = FailoverPolicy(FailoverConfig(rules=rules))
    assert [run(policy, 418).action for _ in range(3)] == [
        Action.RETRY,
        Action.RETRY,
        Action.NONE,
    ]
    assert run(policy, 418).error_group == "others"


def test_unknown_steps_are_skipped() -> None:
    rules = (
        FailoverRule("500", (ActionStep("explode"), ActionStep("retry", 1, 1))),
        FailoverRule("others", (ActionStep("explode"),)),
    )
    policy = FailoverPolicy(FailoverConfig(rules=rules))
    assert run(policy, 500).action is Action.RETRY
    exhausted = run(policy, 500)
    assert (exhausted.action, exhausted.reason) == (Action.FAILOVER, "chain_exhausted")
    assert run(policy, 404).action is Action.NONE  # never fail over on "others"


def test_rule_without_chain_or_action_fails_over() -> None:
    policy = FailoverPolicy(FailoverConfig(rules=(FailoverRule("500"),)))
    assert run(policy, 500).action is Action.FAILOVER


def test_policy_update_recompiles_and_keeps_counters() -> None:
    policy = FailoverPolicy()
    run(policy, 429)
    before = policy.rules
    policy.update(FailoverConfig())
    assert policy.rules is before  # equal config: nothing recompiled
    policy.update(FailoverConfig(rules=(FailoverRule("429", (ActionStep("failover"),)),)))
    assert policy.counters.count("uid-1", "k1", "429") == 1
    assert run(policy, 429).action is Action.FAILOVER


def test_decide_function_with_explicit_state() -> None:
    rules = compile_rules(FailoverConfig())
    counters = AttemptCounters()
    assert decide(rules, counters, "u", "k", 504, b"").action is Action.RETRY
    assert counters.count("u", "k", "504") == 1


def test_suspend_until_prefers_future_quota_reset() -> None:
    now = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
    later = now + timedelta(hours=3)
    assert suspend_until(make_channel("a", quota_reset_at=later), now) == later
    past = make_channel("a", quota_reset_at=now - timedelta(hours=1))
    assert suspend_until(past, now) == now + timedelta(minutes=5)
    assert suspend_until(make_channel("a"), now) == now + timedelta(minutes=5)


def _rule_from_json(raw: dict[str, object]) -> FailoverRule:
    steps = tuple(
        ActionStep(s["action"], s.get("waitSeconds", 0), s.get("maxAttempts", 0))
        for s in raw["actionChain"]  # type: ignore[union-attr]
    )
    return FailoverRule(str(raw["errorCodes"]), steps)


def test_default_rules_match_reference_fixture() -> None:
    data = json.loads(FIXTURE.read_text())
    assert data["enabled"] is False
    assert default_rules() == tuple(_rule_from_json(r) for r in data["rules"])
