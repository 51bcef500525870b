"""Failover rules engine: error subtypes, rule matching, action chains.

An upstream non-2xx answer becomes a :class:`Decision` (retry the same key,
fail over to the next key, suspend the channel, or return the error). Rule
lists are compiled once per config; attempt counters live in
:class:`AttemptCounters`, keyed by stable channel uid, key and error group.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from ccbridge.store.defaults import default_rules
from ccbridge.store.snapshot import (
    ActionStep,
    Channel,
    FailoverConfig,
    FailoverRule,
    freeze_mapping,
)

__all__ = (
    "DEFAULT_SUSPEND_SECONDS",
    "Action",
    "AttemptCounters",
    "CompiledRules",
    "Decision",
    "FailoverPolicy",
    "ParsedError",
    "compile_rules",
    "decide",
    "format_failover_info",
    "migrate_rule",
    "normalize_rules",
    "parse_error",
    "suspend_until",
)

SUBTYPE_QUOTA_EXHAUSTED: Final = "QUOTA_EXHAUSTED"
SUBTYPE_MODEL_COOLDOWN: Final = "model_cooldown"
SUBTYPE_RESOURCE_EXHAUSTED: Final = "RESOURCE_EXHAUSTED"
SUBTYPE_CREDIT_EXHAUSTED: Final = "CREDIT_EXHAUSTED"
DEFAULT_SUSPEND_SECONDS: Final = 300
_OTHERS: Final = "others"
_COOLDOWN_FALLBACK_WAIT: Final = 2.0
_MAX_ERROR_BODY: Final = 1 << 20


class Action(StrEnum):
    """What the proxy does after a failed upstream attempt."""

    RETRY = "retry"
    FAILOVER = "failover"
    SUSPEND = "suspend"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class ParsedError:
    """Status, detected subtype and suggested wait of an upstream error."""

    status: int
    subtype: str = ""
    wait_seconds: float = 0.0

    @property
    def pattern(self) -> str:
        """Return ``"<status>"`` or ``"<status>:<subtype>"``."""
        return f"{self.status}:{self.subtype}" if self.subtype else str(self.status)


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's answer for one failed attempt.

    Attributes:
        action: What to do next.
        wait_seconds: Delay before a retry (0 otherwise).
        status: Upstream HTTP status.
        subtype: Detected error subtype, or "".
        error_group: Counter group ("429:QUOTA_EXHAUSTED", "503", "others").
        attempt: Attempt number within the current retry step.
        max_attempts: Size of the current retry step.
        mark_key_failed: Put the key into the failed-key cache.
        deprioritize_key: Move the key to the end of the list once another
            key succeeded (429 failovers only).
        reason: Short machine-readable reason for logs.
        failover_info: Request-log text ``"<status>[:<sub>] > <act> > <details>"``.
    """

    action: Action
    wait_seconds: float
    status: int
    subtype: str
    error_group: str
    attempt: int
    max_attempts: int
    mark_key_failed: bool
    deprioritize_key: bool
    reason: str
    failover_info: str


def format_failover_info(status: int, subtype: str, action: str, details: str = "") -> str:
    """Return the request-log ``failover_info`` text."""
    pattern = f"{status}:{subtype}" if subtype else str(status)
    return f"{pattern} > {action} > {details}" if details else f"{pattern} > {action}"


def _error_object(body: bytes) -> Mapping[str, Any] | None:
    stripped = body.lstrip()
    if not stripped.startswith(b"{") or len(stripped) > _MAX_ERROR_BODY:
        return None
    try:
        raw = json.loads(stripped)
    except (ValueError, RecursionError):
        return None
    if not isinstance(raw, dict):
        return None
    inner = raw.get("error")
    return inner if isinstance(inner, dict) else raw


def _has_quota_reason(obj: Mapping[str, Any]) -> bool:
    details = obj.get("details")
    if not isinstance(details, list):
        return False
    return any(isinstance(d, dict) and d.get("reason") == "QUOTA_EXHAUSTED" for d in details)


def _cooldown_wait(obj: Mapping[str, Any], cfg: FailoverConfig) -> float:
    reset = obj.get("reset_seconds")
    if isinstance(reset, bool) or not isinstance(reset, int | float):
        return _COOLDOWN_FALLBACK_WAIT
    extra = cfg.model_cooldown_extra_seconds if cfg.model_cooldown_extra_seconds > 0 else 1
    cap = cfg.model_cooldown_max_wait_seconds if cfg.model_cooldown_max_wait_seconds > 0 else 60
    return float(min(math.ceil(max(reset, 0)) + extra, cap))


def _parse_429(obj: Mapping[str, Any], cfg: FailoverConfig) -> tuple[str, float]:
    exhausted = obj.get("status") == "RESOURCE_EXHAUSTED"
    # Quota exhaustion wins over model_cooldown: it must always suspend.
    if exhausted and _has_quota_reason(obj):
        return SUBTYPE_QUOTA_EXHAUSTED, 0.0
    if obj.get("code") == SUBTYPE_MODEL_COOLDOWN:
        return SUBTYPE_MODEL_COOLDOWN, _cooldown_wait(obj, cfg)
    if exhausted:
        wait = cfg.generic_resource_wait_seconds
        return SUBTYPE_RESOURCE_EXHAUSTED, float(wait if wait > 0 else 20)
    return "", 0.0


def _parse_403(obj: Mapping[str, Any]) -> str:
    message = obj.get("message")
    if not isinstance(message, str):
        return ""
    lower = message.lower()
    if "quota is not enough" in lower or ("insufficient" in lower and "quota" in lower):
        return SUBTYPE_CREDIT_EXHAUSTED
    return ""


def parse_error(status: int, body: bytes, cfg: FailoverConfig | None = None) -> ParsedError:
    """Return the subtype and suggested wait of an upstream error body.

    Only 429 and 403 bodies are parsed (top level or the ``error`` object):
    429 ``RESOURCE_EXHAUSTED`` with a ``QUOTA_EXHAUSTED`` detail reason,
    429 ``code=model_cooldown`` (wait ceil(reset_seconds) + extra, capped;
    2 s without reset_seconds), generic 429 ``RESOURCE_EXHAUSTED`` (20 s by
    default) and 403 credit exhaustion messages.
    """
    if status not in (429, 403) or not body:
        return ParsedError(status)
    obj = _error_object(body)
    if obj is None:
        return ParsedError(status)
    if status == 403:
        return ParsedError(status, _parse_403(obj))
    subtype, wait = _parse_429(obj, cfg or FailoverConfig())
    return ParsedError(status, subtype, wait)


def migrate_rule(rule: FailoverRule) -> FailoverRule:
    """Return ``rule`` with a legacy ``action`` turned into a chain."""
    if rule.action_chain or not rule.action:
        return rule
    match rule.action:
        case "suspend_channel":
            chain: tuple[ActionStep, ...] = (ActionStep("suspend"),)
        case "failover_threshold":
            chain = (ActionStep("retry", 0, max(rule.threshold, 1)), ActionStep("failover"))
        case "retry_wait":
            chain = (ActionStep("retry", rule.wait_seconds, 99), ActionStep("failover"))
        case _:  # failover_immediate and unknown legacy values
            chain = (ActionStep("failover"),)
    return FailoverRule(rule.error_codes, chain)


def _is_others(rule: FailoverRule) -> bool:
    return rule.error_codes.strip().lower() == _OTHERS


def _defuse_others(rule: FailoverRule) -> FailoverRule:
    # A catch-all that fails over would hide client errors (400, 413, ...).
    chain = tuple(
        replace(step, action="none") if step.action == "failover" else step
        for step in rule.action_chain
    )
    return replace(rule, action_chain=chain)


def normalize_rules(rules: Iterable[FailoverRule]) -> tuple[FailoverRule, ...]:
    """Return rules with legacy actions migrated and ``others`` defused.

    A rule left with no chain fails over at once (the reference's fallback
    for a rule without an action).
    """
    out = []
    for rule in rules:
        rule = migrate_rule(rule)
        if not rule.action_chain:
            rule = replace(rule, action_chain=(ActionStep("failover"),))
        out.append(_defuse_others(rule) if _is_others(rule) else rule)
    return tuple(out)


def _canonical_step(step: ActionStep) -> ActionStep | None:
    try:
        action = Action(step.action.strip().lower())
    except ValueError:
        return None  # unknown steps are skipped, as in the reference
    return ActionStep(action.value, max(step.wait_seconds, 0), step.max_attempts)


def _pattern_key(code: str) -> str:
    status, _, subtype = code.partition(":")
    return f"{status.strip()}:{subtype.strip().upper()}" if subtype else status.strip()


@dataclass(frozen=True, slots=True)
class CompiledRules:
    """Rules prepared for O(1) matching; build with :func:`compile_rules`."""

    config: FailoverConfig
    chains: tuple[tuple[ActionStep, ...], ...]
    specific: Mapping[str, int]
    plain: Mapping[str, int]
    others: int | None

    def match(self, parsed: ParsedError) -> tuple[int, str] | None:
        """Return ``(rule index, error group)`` for ``parsed`` or None."""
        if parsed.subtype:
            found = self.specific.get(_pattern_key(parsed.pattern))
            if found is not None:
                return found, parsed.pattern
        code = str(parsed.status)
        found = self.plain.get(code)
        if found is None and parsed.status == 529 and "529" not in self.plain:
            # 529 "overloaded" behaves like 503 unless a rule names it.
            code, found = "503", self.plain.get("503")
        if found is not None:
            return found, code
        if self.others is not None:
            return self.others, _OTHERS
        return None


def compile_rules(config: FailoverConfig) -> CompiledRules:
    """Return the matching tables for ``config`` (defaults when empty)."""
    rules = normalize_rules(config.rules or default_rules())
    chains: list[tuple[ActionStep, ...]] = []
    specific: dict[str, int] = {}
    plain: dict[str, int] = {}
    others: int | None = None
    for index, rule in enumerate(rules):
        steps = (_canonical_step(s) for s in rule.action_chain)
        chains.append(tuple(s for s in steps if s is not None))
        if _is_others(rule):
            others = index if others is None else others
            continue
        for code in filter(None, (c.strip() for c in rule.error_codes.split(","))):
            target = specific if ":" in code else plain
            target.setdefault(_pattern_key(code), index)
    return CompiledRules(
        config, tuple(chains), freeze_mapping(specific), freeze_mapping(plain), others
    )


class AttemptCounters:
    """Consecutive-error counters per (channel uid, key, error group)."""

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], dict[str, int]] = {}

    def bump(self, uid: str, key: str, group: str) -> int:
        """Increment and return the counter of ``group``."""
        groups = self._counts.setdefault((uid, key), {})
        groups[group] = groups.get(group, 0) + 1
        return groups[group]

    def count(self, uid: str, key: str, group: str) -> int:
        """Return the current counter of ``group``."""
        return self._counts.get((uid, key), {}).get(group, 0)

    def clear(self, uid: str, key: str, group: str) -> None:
        """Forget one group after a terminal action."""
        groups = self._counts.get((uid, key))
        if groups is not None:
            groups.pop(group, None)
            if not groups:
                del self._counts[(uid, key)]

    def reset(self, uid: str, key: str) -> None:
        """Forget every group of a key after a success."""
        self._counts.pop((uid, key), None)

    def reset_channel(self, uid: str) -> None:
        """Forget every counter of a channel."""
        for pair in [p for p in self._counts if p[0] == uid]:
            del self._counts[pair]

    def __len__(self) -> int:
        return len(self._counts)


def _decision(
    parsed: ParsedError,
    group: str,
    action: Action,
    *,
    reason: str,
    wait: float = 0.0,
    attempt: int = 0,
    max_attempts: int = 0,
) -> Decision:
    failing_over = action is Action.FAILOVER
    return Decision(
        action=action,
        wait_seconds=wait,
        status=parsed.status,
        subtype=parsed.subtype,
        error_group=group,
        attempt=attempt,
        max_attempts=max_attempts,
        mark_key_failed=failing_over,
        deprioritize_key=failing_over and parsed.status == 429,
        reason=reason,
        failover_info=_info(parsed, action, wait),
    )


def _info(parsed: ParsedError, action: Action, wait: float) -> str:
    status, subtype = parsed.status, parsed.subtype
    if action is Action.RETRY:
        return format_failover_info(status, subtype, "retry_wait", f"{wait:.0f}s")
    if action is Action.FAILOVER:
        word = "auth_failed" if status in (401, 403) else "failover"
        return format_failover_info(status, subtype, word, "next key")
    if action is Action.SUSPEND:
        return format_failover_info(status, subtype, "suspended", "next channel")
    return format_failover_info(status, subtype, "return_error")


def _run_chain(
    chain: tuple[ActionStep, ...],
    parsed: ParsedError,
    group: str,
    count: int,
) -> tuple[Decision, bool]:
    """Return the step's decision and whether the counter must be cleared."""
    done = 0
    for step in chain:
        if step.action == Action.RETRY:
            size = step.max_attempts if step.max_attempts > 0 else 1
            if count <= done + size:
                wait = float(step.wait_seconds) if step.wait_seconds else parsed.wait_seconds
                reason = parsed.subtype or "retry"
                decision = _decision(
                    parsed,
                    group,
                    Action.RETRY,
                    reason=reason,
                    wait=wait,
                    attempt=count - done,
                    max_attempts=size,
                )
                return decision, False
            done += size
            continue
        action = Action(step.action)
        reason = "failover_chain" if action is Action.FAILOVER else parsed.subtype or action.value
        return _decision(parsed, group, action, reason=reason), True
    # Retries used up with no terminal step: fail over (never for "others").
    action = Action.NONE if group == _OTHERS else Action.FAILOVER
    return _decision(parsed, group, action, reason="chain_exhausted"), True


def decide(
    rules: CompiledRules,
    counters: AttemptCounters,
    uid: str,
    key: str,
    status: int,
    body: bytes,
) -> Decision:
    """Return what to do after ``status``/``body`` from channel ``uid``."""
    parsed = parse_error(status, body, rules.config)
    matched = rules.match(parsed)
    if matched is None:
        return _decision(parsed, "", Action.NONE, reason="no_matching_rule")
    index, group = matched
    count = counters.bump(uid, key, group)
    decision, terminal = _run_chain(rules.chains[index], parsed, group, count)
    if terminal:
        counters.clear(uid, key, group)
    return decision


def suspend_until(channel: Channel, now: datetime) -> datetime:
    """Return when a suspended channel comes back.

    ``quota_reset_at`` when it lies in the future, else now + 5 minutes.
    """
    reset = channel.quota_reset_at
    if reset is not None and reset > now:
        return reset
    return now + timedelta(seconds=DEFAULT_SUSPEND_SECONDS)


class FailoverPolicy:
    """Compiled rules of the current config plus long-lived counters."""

    __slots__ = ("_config", "_counters", "_rules")

    def __init__(self, config: FailoverConfig | None = None) -> None:
        self._config = config or FailoverConfig()
        self._rules = compile_rules(self._config)
        self._counters = AttemptCounters()

    @property
    def rules(self) -> CompiledRules:
        """Return the compiled rules in use."""
        return self._rules

    @property
    def counters(self) -> AttemptCounters:
        """Return the attempt counters."""
        return self._counters

    def update(self, config: FailoverConfig) -> None:
        """Recompile when the config changed; counters are kept."""
        if config is not self._config and config != self._config:
            self._rules = compile_rules(config)
        self._config = config

    def decide(self, uid: str, key: str, status: int, body: bytes) -> Decision:
        """Return the decision for a failed attempt."""
        return decide(self._rules, self._counters, uid, key, status, body)

    def record_success(self, uid: str, key: str) -> None:
        """Reset the counters of a key after a 2xx answer."""
        self._counters.reset(uid, key)

    def reset_channel(self, uid: str) -> None:
        """Drop all counters of a deleted or reset channel."""
        self._counters.reset_channel(uid)
