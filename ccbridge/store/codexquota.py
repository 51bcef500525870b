"""Codex rate-limit state: from answer headers or the usage endpoint to ``channel_quota``.

Every answer of the Codex backend carries ``x-codex-*`` headers: the plan,
the primary (5-hour) and secondary (weekly) windows' used percent, window
length and reset time, credits, and per-model limit families such as
``x-codex-bengalfox-primary-used-percent``. `quota_from_headers` reads
them into the reference's quota object (`CodexQuota`, stored whole as
``codex_quota_snapshot`` and its main figures in the row's columns); the
relay hands the row to the writer, so the request path never waits.
`quota_from_usage` reads the usage endpoint's JSON (``rate_limit`` with
``primary_window``/``secondary_window``) into the same object.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from generated.rows import ChannelQuotaRow

__all__ = (
    "CodexQuota",
    "QuotaWindow",
    "has_codex_headers",
    "mark_exceeded",
    "quota_from_headers",
    "quota_from_row",
    "quota_from_usage",
    "quota_row",
    "quota_view",
)

_PREFIX: Final = "x-codex-"
# Header families that are not a per-model limit.
_NOT_LIMITS: Final = frozenset({"primary", "secondary", "credits", "plan", "active"})
_SUFFIX: Final = "-primary-used-percent"
_DEFAULT_COOLDOWN_S: Final = 300  # the reference's cooldown without Retry-After


@dataclass(slots=True)
class QuotaWindow:
    """One rate-limit window (percent used, its length, when it resets)."""

    used_percent: float | None = None
    window_minutes: int = 0
    reset_at: datetime | None = None
    reset_after_seconds: int = 0


@dataclass(slots=True)
class LimitFamily:
    """A per-model limit (``detailed_limits`` in the reference)."""

    limit_id: str
    limit_name: str = ""
    primary: QuotaWindow = field(default_factory=QuotaWindow)
    secondary: QuotaWindow = field(default_factory=QuotaWindow)


@dataclass(slots=True)
class CodexQuota:
    """A channel's Codex quota as last reported."""

    updated_at: datetime
    plan_type: str = ""
    active_limit: str = ""
    primary: QuotaWindow = field(default_factory=QuotaWindow)
    secondary: QuotaWindow = field(default_factory=QuotaWindow)
    primary_over_secondary_limit_percent: int = 0
    credits_has_credits: bool = False
    credits_unlimited: bool = False
    credits_balance: str = ""
    detailed_limits: list[LimitFamily] = field(default_factory=list)


def has_codex_headers(headers: Iterable[tuple[str, str]]) -> bool:
    """Return whether an answer reports Codex quota (cheap: names only)."""
    return any(name[:8].lower() == _PREFIX for name, _ in headers)


def quota_from_headers(headers: Iterable[tuple[str, str]], now: datetime) -> CodexQuota | None:
    """Return the quota an answer's ``x-codex-*`` headers report, if any."""
    h = {name.lower(): value.strip() for name, value in headers if name[:8].lower() == _PREFIX}
    if not h:
        return None
    quota = CodexQuota(
        updated_at=now,
        plan_type=h.get("x-codex-plan-type", ""),
        active_limit=h.get("x-codex-active-limit", ""),
        primary=_window(h, "x-codex-primary", now),
        secondary=_window(h, "x-codex-secondary", now),
        primary_over_secondary_limit_percent=_int(
            h.get("x-codex-primary-over-secondary-limit-percent")
        ),
        credits_has_credits=h.get("x-codex-credits-has-credits", "").lower() == "true",
        credits_unlimited=h.get("x-codex-credits-unlimited", "").lower() == "true",
        credits_balance=h.get("x-codex-credits-balance", ""),
    )
    for name in sorted(h):
        family = name[len(_PREFIX) : -len(_SUFFIX)] if name.endswith(_SUFFIX) else ""
        if family and family not in _NOT_LIMITS:
            prefix = _PREFIX + family
            quota.detailed_limits.append(
                LimitFamily(
                    limit_id="codex_" + family.replace("-", "_"),
                    limit_name=h.get(prefix + "-limit-name", ""),
                    primary=_window(h, prefix + "-primary", now),
                    secondary=_window(h, prefix + "-secondary", now),
                )
            )
    return quota


def quota_from_usage(data: Mapping[str, Any], now: datetime) -> CodexQuota:
    """Return the quota the usage endpoint's JSON reports.

    Raises:
        ValueError: It holds no ``rate_limit`` windows.
    """
    limits = data.get("rate_limit") or data.get("rateLimit")
    if not isinstance(limits, Mapping):
        raise ValueError("usage answer has no rate_limit")
    windows = [
        w
        for w in (limits.get("primary_window"), limits.get("secondary_window"))
        if isinstance(w, Mapping)
    ]
    if not windows:
        raise ValueError("usage answer has no quota windows")
    # The 5-hour window is the primary one, the weekly the secondary (the reference).
    by_length = {_num(w.get("limit_window_seconds")): w for w in windows}
    primary = by_length.get(5 * 3600.0) or limits.get("primary_window")
    secondary = by_length.get(7 * 86400.0) or limits.get("secondary_window")
    raw_credits = data.get("credits")
    credits: Mapping[str, Any] = raw_credits if isinstance(raw_credits, Mapping) else {}
    plan = data.get("plan_type") or data.get("planType")
    return CodexQuota(
        updated_at=now,
        plan_type=plan.strip() if isinstance(plan, str) else "",
        primary=_usage_window(primary, now),
        secondary=_usage_window(secondary, now),
        credits_has_credits=credits.get("has_credits") is True,
        credits_unlimited=credits.get("unlimited") is True,
        credits_balance=str(credits.get("balance") or ""),
    )


def quota_row(uid: str, name: str, index: int, quota: CodexQuota) -> ChannelQuotaRow:
    """Return the ``channel_quota`` row of a channel's quota."""
    return ChannelQuotaRow(
        channel_stable_id=uid,
        channel_name=name,
        channel_id=index,
        plan_type=quota.plan_type or None,
        primary_used_percent=_rounded(quota.primary.used_percent),
        primary_window_minutes=quota.primary.window_minutes,
        primary_reset_at=quota.primary.reset_at,
        secondary_used_percent=_rounded(quota.secondary.used_percent),
        secondary_window_minutes=quota.secondary.window_minutes,
        secondary_reset_at=quota.secondary.reset_at,
        credits_has_credits=quota.credits_has_credits,
        credits_unlimited=quota.credits_unlimited,
        credits_balance=quota.credits_balance or None,
        updated_at=quota.updated_at,
        codex_quota_snapshot=_snapshot(quota),
    )


def mark_exceeded(row: ChannelQuotaRow, retry_after: str | None) -> ChannelQuotaRow:
    """Mark a quota row of a 429 answer: exceeded until Retry-After (else 5 minutes)."""
    at = row.updated_at or datetime.now(UTC)
    wait = _int(retry_after) if retry_after and retry_after.strip().isdigit() else 0
    row.is_exceeded = True
    row.exceeded_at = at
    row.recover_at = at + timedelta(seconds=wait or _DEFAULT_COOLDOWN_S)
    row.exceeded_reason = "upstream answered 429"
    return row


def quota_from_row(row: ChannelQuotaRow) -> dict[str, Any]:
    """Return the stored snapshot object of a row (columns when there is none)."""
    snap = row.codex_quota_snapshot
    if isinstance(snap, dict):
        return snap
    return _drop_empty(
        {
            "plan_type": row.plan_type or "",
            "primary_used_percent": row.primary_used_percent or 0,
            "primary_window_minutes": row.primary_window_minutes or 0,
            "primary_reset_at": _iso(row.primary_reset_at),
            "secondary_used_percent": row.secondary_used_percent or 0,
            "secondary_window_minutes": row.secondary_window_minutes or 0,
            "secondary_reset_at": _iso(row.secondary_reset_at),
            "credits_has_credits": bool(row.credits_has_credits),
            "credits_unlimited": bool(row.credits_unlimited),
            "credits_balance": row.credits_balance or "",
            "updated_at": _iso(row.updated_at),
        }
    )


def quota_view(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """Return the status route's ``codex_quota``: percents exact where known."""
    view = {k: v for k, v in snapshot.items() if not k.endswith("_exact")}
    for side in ("primary", "secondary"):
        exact = snapshot.get(f"{side}_used_percent_exact")
        if exact is not None:
            view[f"{side}_used_percent"] = exact
    limits = snapshot.get("detailed_limits")
    if isinstance(limits, list):
        view["detailed_limits"] = [quota_view(x) for x in limits if isinstance(x, Mapping)]
    return view


def _snapshot(quota: CodexQuota) -> dict[str, Any]:
    """Return the reference's ``codex_quota_snapshot`` object (empty fields left out)."""
    out: dict[str, Any] = {
        "plan_type": quota.plan_type,
        "active_limit": quota.active_limit,
        **_window_fields(quota.primary, "primary"),
        **_window_fields(quota.secondary, "secondary"),
        "primary_over_secondary_limit_percent": quota.primary_over_secondary_limit_percent,
        "credits_has_credits": quota.credits_has_credits,
        "credits_unlimited": quota.credits_unlimited,
        "credits_balance": quota.credits_balance,
        "updated_at": _iso(quota.updated_at),
    }
    if quota.detailed_limits:
        out["detailed_limits"] = [
            _drop_empty(
                {
                    "limit_id": f.limit_id,
                    "limit_name": f.limit_name,
                    **_window_fields(f.primary, "primary", after=True),
                    **_window_fields(f.secondary, "secondary", after=True),
                }
            )
            for f in quota.detailed_limits
        ]
    return _drop_empty(out)


def _window_fields(w: QuotaWindow, side: str, *, after: bool = False) -> dict[str, Any]:
    used = w.used_percent
    fields: dict[str, Any] = {
        f"{side}_used_percent": _rounded(used),
        f"{side}_window_minutes": w.window_minutes,
        f"{side}_reset_at": _iso(w.reset_at),
    }
    if used is not None and used != round(used):
        fields[f"{side}_used_percent_exact"] = used
    if after:
        fields[f"{side}_reset_after_seconds"] = w.reset_after_seconds
    return fields


def _drop_empty(obj: dict[str, Any]) -> dict[str, Any]:
    # The used percents and credit flags always stay (the reference omits the rest when empty).
    keep = ("_used_percent", "credits_has_credits", "credits_unlimited", "updated_at", "limit_id")
    return {k: v for k, v in obj.items() if k.endswith(keep) or v not in ("", 0, None)}


def _window(h: Mapping[str, str], prefix: str, now: datetime) -> QuotaWindow:
    window = QuotaWindow(
        used_percent=_float(h.get(prefix + "-used-percent")),
        window_minutes=_int(h.get(prefix + "-window-minutes")),
        reset_after_seconds=_int(h.get(prefix + "-reset-after-seconds")),
    )
    reset_at = _int(h.get(prefix + "-reset-at"))
    if reset_at > 0:
        window.reset_at = datetime.fromtimestamp(reset_at, UTC)
    elif window.reset_after_seconds > 0:
        window.reset_at = now + timedelta(seconds=window.reset_after_seconds)
    return window


def _usage_window(raw: Any, now: datetime) -> QuotaWindow:
    if not isinstance(raw, Mapping):
        return QuotaWindow()
    used = _num(raw.get("used_percent"))
    seconds = _num(raw.get("limit_window_seconds"))
    reset_at = _num(raw.get("reset_at"))
    after = _num(raw.get("reset_after_seconds"))
    window = QuotaWindow(
        used_percent=min(max(used, 0.0), 100.0) if used is not None else None,
        window_minutes=round(seconds / 60) if seconds and seconds > 0 else 0,
    )
    if reset_at and reset_at > 0:
        window.reset_at = datetime.fromtimestamp(reset_at, UTC)
    elif after and after > 0:
        window.reset_at = now + timedelta(seconds=after)
    return window


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    return _float(value) if isinstance(value, str) else None


def _float(text: str | None) -> float | None:
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def _int(text: str | None) -> int:
    value = _float(text)
    return int(value) if value is not None else 0


def _rounded(value: float | None) -> int:
    return round(value) if value is not None else 0


def _iso(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if at is not None else ""
