"""Legacy cc-bridge (Go) files in the reference's formats, for tests.

``LAYOUTS`` holds the CREATE TABLE statements of request_logs.db as it
looked over the years (v1: earliest, ``user_id`` and no status; v2: the
002 consolidation; v3: after migration 022). ``write_legacy_db`` fills a
layout with deterministic rows whose timestamps cycle through every
spelling Go ever stored; ``expected_time`` gives their UTC value.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final

__all__ = (
    "FIXTURES",
    "GO_CONFIG_TABLES",
    "LAYOUTS",
    "write_go_database",
    "full_config",
    "log_row",
    "time_text",
    "expected_time",
    "write_json",
    "write_legacy_db",
)

# Hand-written files in the reference's formats (see its README.md).
FIXTURES: Final = Path(__file__).resolve().parent.parent / "fixtures" / "legacy"

_V1: Final = [
    """CREATE TABLE request_logs (
        id TEXT PRIMARY KEY, initial_time DATETIME NOT NULL, complete_time DATETIME,
        duration_ms INTEGER DEFAULT 0, provider TEXT NOT NULL, model TEXT NOT NULL,
        input_tokens INTEGER DEFAULT 0, output_tokens INTEGER DEFAULT 0,
        cache_creation_input_tokens INTEGER DEFAULT 0, cache_read_input_tokens INTEGER DEFAULT 0,
        total_tokens INTEGER DEFAULT 0, price REAL DEFAULT 0, http_status INTEGER DEFAULT 0,
        stream BOOLEAN NOT NULL, channel_id INTEGER, channel_name TEXT, endpoint TEXT,
        user_id TEXT, error TEXT, created_at DATETIME DEFAULT CURRENT_TIMESTAMP)""",
    """CREATE TABLE user_aliases (user_id TEXT PRIMARY KEY, alias TEXT NOT NULL UNIQUE,
        created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
        updated_at DATETIME DEFAULT CURRENT_TIMESTAMP)""",
]
_V2: Final = [
    """CREATE TABLE request_logs (
        id TEXT PRIMARY KEY, status TEXT DEFAULT 'completed', initial_time DATETIME NOT NULL,
        complete_time DATETIME, duration_ms INTEGER DEFAULT 0, provider TEXT NOT NULL,
        provider_name TEXT, model TEXT NOT NULL, response_model TEXT,
        input_tokens INTEGER DEFAULT 0, output_tokens INTEGER DEFAULT 0,
        cache_creation_input_tokens INTEGER DEFAULT 0, cache_read_input_tokens INTEGER DEFAULT 0,
        total_tokens INTEGER DEFAULT 0, price REAL DEFAULT 0, input_cost REAL DEFAULT 0,
        output_cost REAL DEFAULT 0, cache_creation_cost REAL DEFAULT 0,
        cache_read_cost REAL DEFAULT 0, http_status INTEGER DEFAULT 0, stream BOOLEAN NOT NULL,
        channel_id INTEGER, channel_name TEXT, endpoint TEXT, client_id TEXT, session_id TEXT,
        reasoning_effort TEXT, error TEXT, upstream_error TEXT, failover_info TEXT,
        api_key_id INTEGER, created_at DATETIME DEFAULT CURRENT_TIMESTAMP)""",
    _V1[1],
    """CREATE TABLE api_keys (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE, key_prefix TEXT NOT NULL, description TEXT,
        status TEXT NOT NULL DEFAULT 'active', is_admin BOOLEAN NOT NULL DEFAULT 0,
        rate_limit_rpm INTEGER NOT NULL DEFAULT 0, allowed_endpoints TEXT,
        allowed_channels_msg TEXT, allowed_channels_resp TEXT, allowed_models TEXT,
        created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
        updated_at DATETIME DEFAULT CURRENT_TIMESTAMP, last_used_at DATETIME)""",
    """CREATE TABLE channel_quota (channel_id INTEGER PRIMARY KEY, channel_name TEXT NOT NULL,
        plan_type TEXT, primary_used_percent INTEGER DEFAULT 0,
        primary_window_minutes INTEGER DEFAULT 0, primary_reset_at DATETIME,
        secondary_used_percent INTEGER DEFAULT 0, secondary_window_minutes INTEGER DEFAULT 0,
        secondary_reset_at DATETIME, credits_has_credits BOOLEAN DEFAULT 0,
        credits_unlimited BOOLEAN DEFAULT 0, credits_balance TEXT, is_exceeded BOOLEAN DEFAULT 0,
        exceeded_at DATETIME, recover_at DATETIME, exceeded_reason TEXT,
        updated_at DATETIME DEFAULT CURRENT_TIMESTAMP)""",
    """CREATE TABLE channel_suspensions (channel_id INTEGER NOT NULL, channel_type TEXT NOT NULL,
        suspended_at DATETIME NOT NULL, suspended_until DATETIME NOT NULL, reason TEXT,
        PRIMARY KEY (channel_id, channel_type))""",
    """CREATE TABLE request_debug_logs (request_id TEXT PRIMARY KEY,
        request_method TEXT NOT NULL, request_path TEXT NOT NULL, request_headers BLOB,
        request_body BLOB, request_body_size INTEGER DEFAULT 0, response_status INTEGER DEFAULT 0,
        response_headers BLOB, response_body BLOB, response_body_size INTEGER DEFAULT 0,
        created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
        FOREIGN KEY (request_id) REFERENCES request_logs(id) ON DELETE CASCADE)""",
]
_V3_EXTRA: Final = [
    "ALTER TABLE request_logs ADD COLUMN channel_uid TEXT",
    "ALTER TABLE request_logs ADD COLUMN first_token_time DATETIME",
    "ALTER TABLE request_logs ADD COLUMN first_token_duration_ms INTEGER DEFAULT 0",
    "ALTER TABLE request_logs ADD COLUMN service_tier TEXT",
    "ALTER TABLE request_logs ADD COLUMN service_tier_overridden BOOLEAN DEFAULT 0",
    "ALTER TABLE request_logs ADD COLUMN original_x_initiator TEXT",
    "ALTER TABLE request_logs ADD COLUMN effective_x_initiator TEXT",
    "ALTER TABLE request_logs ADD COLUMN priced_by_target_model BOOLEAN DEFAULT 0",
    "ALTER TABLE request_logs ADD COLUMN transport TEXT",
    "ALTER TABLE request_logs ADD COLUMN domain TEXT",
    "ALTER TABLE api_keys ADD COLUMN allowed_channels_gemini TEXT",
    "ALTER TABLE api_keys ADD COLUMN allowed_channels_chat TEXT",
    "ALTER TABLE channel_quota ADD COLUMN channel_stable_id TEXT",
    "ALTER TABLE channel_quota ADD COLUMN codex_quota_snapshot TEXT",
    "ALTER TABLE request_debug_logs ADD COLUMN request_removed_headers BLOB",
    "ALTER TABLE request_debug_logs ADD COLUMN request_modified_headers BLOB",
]
LAYOUTS: Final = {"v1": _V1, "v2": _V2, "v3": _V2 + _V3_EXTRA}

_BASE: Final = datetime(2025, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)
_ENDPOINTS: Final = ("/v1/messages", "/v1/responses", "/v1/gemini", "/v1/chat/completions")
# Channel names of full_config(), per endpoint's pool.
_NAMES: Final = {
    "/v1/messages": ("Alpha", "beta", "nobody"),
    "/v1/responses": ("Codex OAuth", "Resp"),
    "/v1/gemini": ("Gem",),
    "/v1/chat/completions": ("Chatty",),
}


def expected_time(i: int) -> datetime:
    """Return the instant row ``i``'s timestamps are based on (UTC, µs)."""
    return _BASE + timedelta(minutes=i)


def time_text(i: int) -> str:
    """Return row ``i``'s time in one of the legacy spellings."""
    t = expected_time(i)
    cst = t.astimezone(timezone(timedelta(hours=8)))
    spellings = (
        t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "789Z",  # RFC 3339 nano
        cst.strftime("%Y-%m-%d %H:%M:%S.%f") + "789 +0800 CST m=+12.345678901",  # Go String
        cst.strftime("%Y-%m-%d %H:%M:%S.%f") + "+08:00",  # modernc default
        t.strftime("%Y-%m-%d %H:%M:%S.%f"),  # no offset: UTC
        (t - timedelta(hours=7)).strftime("%Y-%m-%d %H:%M:%S.%f") + "-07",
    )
    return spellings[i % len(spellings)]


def log_row(i: int) -> dict[str, Any]:
    """Return every legacy request_logs column of row ``i``."""
    endpoint = _ENDPOINTS[i % len(_ENDPOINTS)]
    names = _NAMES[endpoint]
    return {
        "id": f"req_{1_700_000_000_000_000_000 + i}",
        "status": ("completed", "error", "failover")[i % 3],
        "initial_time": time_text(i),
        "complete_time": time_text(i + 1) if i % 7 else None,
        "duration_ms": 1000 + i,
        "provider": "claude",
        "provider_name": names[i % len(names)],
        "model": f"claude-sonnet-{i % 5}",
        "response_model": f"claude-sonnet-{i % 5}-2025",
        "input_tokens": i * 3,
        "output_tokens": i * 2,
        "cache_creation_input_tokens": i % 11,
        "cache_read_input_tokens": i % 13,
        "total_tokens": i * 5,
        "price": i / 1000,
        "input_cost": i / 3000,
        "output_cost": i / 7000,
        "cache_creation_cost": 0.0,
        "cache_read_cost": 0.25,
        "http_status": 200 if i % 3 == 0 else 500,
        "stream": i % 2,
        "channel_id": i % 3,
        "channel_name": names[i % len(names)],
        "endpoint": endpoint,
        "client_id": f"client-{i % 4}",
        "user_id": f"client-{i % 4}",
        "session_id": f"sess-{i % 9}",
        "reasoning_effort": "high" if i % 4 == 1 else None,
        "error": "request timed out" if i % 3 == 1 and i % 2 else ("boom" if i % 3 == 1 else None),
        "upstream_error": None,
        "failover_info": "500 > failover > next" if i % 3 == 2 else None,
        "api_key_id": None if i % 5 == 0 else i % 3,
        "created_at": time_text(i),
        "channel_uid": None,
        "first_token_time": time_text(i) if i % 2 else None,
        "first_token_duration_ms": 150,
        "service_tier": "priority" if i % 6 == 0 else None,
        "service_tier_overridden": i % 6 == 0,
        "original_x_initiator": None,
        "effective_x_initiator": "user",
        "priced_by_target_model": 0,
        "transport": "sse",
        "domain": "api.example.com",
    }


def write_legacy_db(path: Path, layout: str, logs: int = 20) -> None:
    """Create a legacy database in ``layout`` filled with rows."""
    conn = sqlite3.connect(path)
    try:
        for statement in LAYOUTS[layout]:
            conn.execute(statement)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        _insert(conn, "request_logs", [log_row(i) for i in range(logs)])
        _insert(conn, "user_aliases", [{"user_id": "client-1", "alias": "laptop"}])
        if "api_keys" in tables:
            _insert(conn, "api_keys", _api_keys())
        if "channel_quota" in tables:
            _insert(conn, "channel_quota", _quotas())
        if "channel_suspensions" in tables:
            _insert(conn, "channel_suspensions", _suspensions())
        if "request_debug_logs" in tables:
            _insert(conn, "request_debug_logs", _debug_logs())
        conn.commit()
    finally:
        conn.close()


def _insert(conn: sqlite3.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    for row in rows:
        names = [c for c in columns if c in row]
        marks = ", ".join("?" for _ in names)
        conn.execute(
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", [row[c] for c in names]
        )


def _api_keys() -> list[dict[str, Any]]:
    base = {"status": "active", "is_admin": 0, "rate_limit_rpm": 0, "created_at": time_text(0)}
    return [
        {
            **base,
            "id": 1,
            "name": "ops",
            "key_hash": "a" * 64,
            "key_prefix": "sk-aaaaa...",
            "is_admin": 1,
            "allowed_channels_msg": "[0, 2, 7]",
            "allowed_channels_resp": '["resp-0001"]',
            "allowed_channels_gemini": "[0]",
            "allowed_channels_chat": "[0]",
            "allowed_models": "not json {",
            "last_used_at": time_text(3),
        },
        {
            **base,
            "id": 4,
            "name": "ci",
            "key_hash": "b" * 64,
            "key_prefix": "sk-bbbbb...",
            "rate_limit_rpm": 60,
            "allowed_endpoints": '["messages"]',
            "allowed_channels_msg": "[]",
            "status": "revoked",
        },
    ]


def _quotas() -> list[dict[str, Any]]:
    return [
        {
            "channel_id": 0,
            "channel_name": "Codex OAuth",
            "plan_type": "plus",
            "primary_used_percent": 42,
            "primary_reset_at": time_text(2),
            "credits_has_credits": 1,
            "credits_balance": "12.5",
            "codex_quota_snapshot": '{"plan_type":"plus","primary_used_percent":42}',
        },
        {"channel_id": 5, "channel_name": "Gone", "primary_used_percent": 7},
    ]


def _suspensions() -> list[dict[str, Any]]:
    return [
        {
            "channel_id": 0,
            "channel_type": "messages",
            "suspended_at": time_text(1),
            "suspended_until": time_text(30),
            "reason": "quota",
        },
        {
            "channel_id": 9,
            "channel_type": "gemini",
            "suspended_at": time_text(1),
            "suspended_until": time_text(30),
        },
    ]


def _debug_logs() -> list[dict[str, Any]]:
    return [
        {
            "request_id": log_row(0)["id"],
            "request_method": "POST",
            "request_path": "/v1/messages",
            "request_headers": b"\x1f\x8b\x08\x00headers",
            "request_removed_headers": b"\x1f\x8b\x00removed",
            "request_modified_headers": None,
            "request_body": b"\x1f\x8b\x08\x00\x00\xff body",
            "request_body_size": 11,
            "response_status": 200,
            "response_headers": b"\x00\x01\x02",
            "response_body": b"",
            "response_body_size": 0,
            "created_at": time_text(0),
        },
        {"request_id": "req_orphan", "request_method": "POST", "request_path": "/v1/messages"},
    ]


def full_config() -> dict[str, Any]:
    """Return config.json with every pool, every field and the legacy ones.

    A fresh copy each call, so a test may change it.
    """
    return json.loads((FIXTURES / "config.json").read_text(encoding="utf-8"))


def write_json(path: Path, value: Any) -> Path:
    """Write ``value`` as JSON to ``path``; return the path."""
    path.write_text(json.dumps(value, indent=2), encoding="utf-8")
    return path


# The Go version's database-mode tables (migrations 001 + later columns).
GO_CONFIG_TABLES: Final = [
    """CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
        applied_at DATETIME DEFAULT CURRENT_TIMESTAMP)""",
    """CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL,
        category TEXT NOT NULL DEFAULT 'general', updated_at DATETIME DEFAULT CURRENT_TIMESTAMP)""",
    """CREATE TABLE channels (id INTEGER PRIMARY KEY AUTOINCREMENT,
        channel_id TEXT NOT NULL UNIQUE, channel_type TEXT NOT NULL, name TEXT NOT NULL,
        description TEXT, website TEXT, service_type TEXT NOT NULL, base_url TEXT,
        insecure_skip_verify BOOLEAN DEFAULT 0, status TEXT DEFAULT 'active',
        priority INTEGER DEFAULT 0, promotion_until DATETIME,
        response_header_timeout INTEGER DEFAULT 120, quota_type TEXT, quota_limit REAL DEFAULT 0,
        quota_reset_at DATETIME, quota_reset_interval INTEGER DEFAULT 0, quota_reset_unit TEXT,
        quota_reset_mode TEXT DEFAULT 'fixed', rate_limit_rpm INTEGER DEFAULT 0,
        queue_enabled BOOLEAN DEFAULT 0, queue_timeout INTEGER DEFAULT 60,
        key_load_balance TEXT, api_keys TEXT, model_mapping TEXT, price_multipliers TEXT,
        oauth_tokens TEXT, responses_encrypted_reasoning_mode TEXT, quota_models TEXT,
        composite_mappings TEXT, created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
        updated_at DATETIME DEFAULT CURRENT_TIMESTAMP, content_filter TEXT,
        codex_service_tier_override TEXT)""",
    """CREATE TABLE model_pricing (model_id TEXT PRIMARY KEY, input_price REAL NOT NULL,
        output_price REAL NOT NULL, cache_creation_price REAL, cache_read_price REAL,
        description TEXT, export_to_models BOOLEAN DEFAULT 1,
        updated_at DATETIME DEFAULT CURRENT_TIMESTAMP)""",
    """CREATE TABLE model_aliases (id INTEGER PRIMARY KEY AUTOINCREMENT,
        alias_type TEXT NOT NULL, value TEXT NOT NULL, description TEXT,
        sort_order INTEGER DEFAULT 0, updated_at DATETIME DEFAULT CURRENT_TIMESTAMP)""",
    """CREATE TABLE channel_usage (channel_id INTEGER NOT NULL, channel_type TEXT NOT NULL,
        used REAL DEFAULT 0, last_reset_at DATETIME, updated_at DATETIME DEFAULT CURRENT_TIMESTAMP,
        PRIMARY KEY (channel_id, channel_type))""",
]


def write_go_database(path: Path, logs: int = 10) -> None:
    """Create a Go database-mode cc-bridge.db: configuration and logs.

    Channel rows are stored out of pool order: the Go version read a pool
    ``ORDER BY priority, id``, so "First" (priority 1) is position 0.
    """
    write_legacy_db(path, "v3", logs)
    conn = sqlite3.connect(path)
    try:
        for statement in GO_CONFIG_TABLES:
            conn.execute(statement)
        _insert(conn, "schema_migrations", [{"version": 22, "name": "x"}])
        _insert(conn, "channels", _go_channels())
        _insert(
            conn,
            "settings",
            [
                {"key": "config_revision", "value": "41", "category": "config_meta"},
                {"key": "messages_load_balance", "value": "random", "category": "config"},
                {"key": "failover", "value": '{"enabled":true,"rules":[]}', "category": "config"},
                {"key": "pricing_currency", "value": "EUR", "category": "pricing"},
            ],
        )
        _insert(
            conn,
            "model_pricing",
            [{"model_id": "m1", "input_price": 1.5, "output_price": 3, "export_to_models": 0}],
        )
        _insert(
            conn,
            "model_aliases",
            [
                {"id": 1, "alias_type": "messages", "value": "second", "sort_order": 1},
                {"id": 2, "alias_type": "messages", "value": "first", "sort_order": 0},
            ],
        )
        _insert(
            conn,
            "channel_usage",
            [
                {"channel_id": 0, "channel_type": "messages", "used": 4.5},
                {"channel_id": 5, "channel_type": "messages", "used": 1},
            ],
        )
        conn.commit()
    finally:
        conn.close()


def _go_channels() -> list[dict[str, Any]]:
    common = {"service_type": "claude", "api_keys": '["k1"]', "model_mapping": "null"}
    return [
        {**common, "id": 1, "channel_id": "bbbb0002", "channel_type": "messages",
         "name": "Second", "priority": 2, "promotion_until": "2030-01-01T00:00:00Z"},
        {**common, "id": 2, "channel_id": "aaaa0001", "channel_type": "messages",
         "name": "First", "priority": 1, "status": "", "oauth_tokens": "",
         "price_multipliers": '{"_default":{"inputMultiplier":2}}', "queue_enabled": 1},
        {**common, "id": 3, "channel_id": "cccc0003", "channel_type": "responses",
         "name": "Codex", "priority": 0, "service_type": "openai-oauth",
         "oauth_tokens": '{"access_token":"t"}', "codex_service_tier_override": "off"},
    ]  # fmt: skip
