"""Importing a cc-bridge data directory, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ccbridge.db.base import Database
from ccbridge.db.check import check_schema
from ccbridge.legacy import importer
from ccbridge.legacy.errors import LegacyImportError
from ccbridge.legacy.importer import import_directory, import_on_start
from ccbridge.store import rollup, rollupdb
from generated.rows import ApiKeysRow, ChannelsRow, RequestLogsRow
from tests.legacy.legacy_files import (
    FIXTURES,
    expected_time,
    full_config,
    log_row,
    write_go_database,
    write_json,
    write_legacy_db,
)

LOGS = 40


def legacy_dir(root: Path, layout: str = "v3", logs: int = LOGS) -> Path:
    source = root / "legacy"
    source.mkdir()
    write_json(source / "config.json", full_config())
    for name in ("pricing.json", "model-aliases.json", "quota_usage.json"):
        (source / name).write_bytes((FIXTURES / name).read_bytes())
    write_legacy_db(source / "request_logs.db", layout, logs)
    return source


def digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()}


async def revision(db: Database) -> str:
    row = await db.daos.settings.get("config_revision")
    assert row is not None
    return row.value


async def assert_nothing_written(db: Database) -> None:
    daos = db.daos
    assert await daos.channels.count() == 0
    assert await daos.request_logs.count() == 0
    assert await daos.settings.list(where={"category": "import"}) == []
    assert await revision(db) == "1"


async def test_imports_every_file_once(db: Database, tmp_path: Path) -> None:
    source = legacy_dir(tmp_path)
    before = digests(source)
    report = await import_directory(db, source)
    assert [(f.name, f.status) for f in report.files] == [
        ("config.json", "imported"),
        ("pricing.json", "imported"),
        ("model-aliases.json", "imported"),
        ("quota_usage.json", "imported"),
        ("request_logs.db", "imported"),
    ]
    assert report.revision == 2 and await revision(db) == "2"
    assert digests(source) == before  # originals untouched, nothing added beside them
    counts = {t.table: (t.read, t.added) for f in report.files for t in f.tables}
    assert counts["request_logs"] == (LOGS, LOGS)
    assert counts["channel_quota"] == (2, 1) and counts["channel_suspensions"] == (2, 1)
    assert counts["request_debug_logs"] == (2, 1)
    # Loaded without their non-unique indexes, the tables got them back.
    assert await check_schema(db) == []

    markers = await db.daos.settings.list(where={"category": "import"}, order_by="key")
    assert [m.key for m in markers] == [
        "import:config.json",
        "import:model-aliases.json",
        "import:pricing.json",
        "import:quota_usage.json",
        "import:request_logs.db",
    ]
    marker = json.loads(markers[-1].value)
    assert marker["sha256"] == before["request_logs.db"]
    assert marker["counts"]["request_logs"]["added"] == LOGS

    again = await import_directory(db, source)
    assert {f.status for f in again.files} == {"already imported"}
    assert again.revision is None and await revision(db) == "2"
    assert await db.daos.request_logs.count() == LOGS
    assert await db.daos.channels.count() == 8


async def test_imported_values(db: Database, tmp_path: Path) -> None:
    await import_directory(db, legacy_dir(tmp_path))
    daos = db.daos
    channels: list[ChannelsRow] = await daos.channels.list(order_by="id")
    assert [c.name for c in channels] == [
        "Alpha", "Beta", "Combo", "Keyless", "Codex OAuth", "Resp", "Gem", "Chatty",
    ]  # fmt: skip
    assert [c.id for c in channels] == sorted(c.id for c in channels)  # pool order
    uid = {c.name: c.channel_id for c in channels}
    alpha = channels[0]
    assert alpha.api_keys == ["sk-ant-secret-1", "sk-ant-secret-2"]
    assert alpha.price_multipliers["claude-"] == {"outputMultiplier": 2.0}
    assert alpha.priority == 3 and alpha.insecure_skip_verify is True

    settings = {s.key: s for s in await daos.settings.list()}
    assert settings["messages_load_balance"].value == "round-robin"
    assert settings["messages_load_balance"].category == "config"
    assert json.loads(settings["responses_websocket"].value) == {"enabled": False}
    assert (settings["pricing_currency"].value, settings["pricing_currency"].category) == (
        "USD",
        "pricing",
    )
    prices = {p.model_id: p for p in await daos.model_pricing.list()}
    assert len(prices) == 5
    assert prices["gpt-5.1-codex"].cache_read_price is None
    assert prices["claude-opus-4-5"].cache_read_price == 0.0
    assert prices["gemini-3-pro"].export_to_models is False
    aliases = await daos.model_aliases.list(order_by="id")
    assert [(a.alias_type, a.value, a.sort_order) for a in aliases] == [
        ("messages", "opus", 0),
        ("messages", "sonnet", 1),
        ("messages", "haiku", 2),
        ("responses", "codex", 0),
        ("responses", "gpt-5.1-codex", 1),
        ("gemini", "gemini-3-flash", 0),
        ("gemini", "gemini-3-pro", 1),
    ]

    usage = {u.channel_uid: u for u in await daos.channel_usage.list()}
    assert set(usage) == {uid["Beta"], uid["Codex OAuth"], uid["Gem"]}  # position 9: nobody
    assert usage[uid["Beta"]].used == 12.5 and usage[uid["Beta"]].channel_id == 1
    assert usage[uid["Beta"]].last_reset_at == datetime(2025, 1, 1, tzinfo=UTC)
    assert (usage[uid["Gem"]].channel_type, usage[uid["Gem"]].used) == ("gemini", 0.75)

    for i in range(LOGS):
        row = await daos.request_logs.get(log_row(i)["id"])
        assert row is not None
        assert row.initial_time == expected_time(i), i
        assert row.created_at == expected_time(i)
        assert row.complete_time == (expected_time(i + 1) if i % 7 else None)
        assert row.stream is bool(i % 2)
        assert row.client_id == f"client-{i % 4}"
    first, second = [await daos.request_logs.get(log_row(i)["id"]) for i in (0, 1)]
    assert first.channel_uid == uid["Alpha"]  # backfilled by name (migration 005)
    assert second.channel_uid == uid["Resp"] and second.status == "timeout"
    third = await daos.request_logs.get(log_row(3)["id"])
    assert third.channel_uid == uid["Chatty"]  # /v1/chat/completions: the chat pool
    nobody = await daos.request_logs.get(log_row(8)["id"])
    assert nobody.channel_name == "nobody" and nobody.channel_uid is None

    keys = {k.id: k for k in await daos.api_keys.list()}
    assert keys[1].allowed_channels_msg == [uid["Alpha"], uid["Combo"], "__invalid_idx_7__"]
    assert keys[1].allowed_channels_resp == ["resp-0001"]
    assert keys[1].allowed_channels_gemini == [uid["Gem"]]
    assert keys[1].allowed_channels_chat == [uid["Chatty"]]
    assert keys[1].allowed_models == ["__invalid_parse_error__"]  # fail closed
    assert keys[1].is_admin is True and keys[1].last_used_at == expected_time(3)
    assert keys[4].allowed_endpoints == ["messages"] and keys[4].allowed_channels_msg is None
    assert keys[4].status == "revoked" and keys[4].rate_limit_rpm == 60

    (quota,) = await daos.channel_quota.list()
    assert (quota.channel_stable_id, quota.channel_id) == (uid["Codex OAuth"], 0)
    assert quota.codex_quota_snapshot == {"plan_type": "plus", "primary_used_percent": 42}
    assert quota.credits_has_credits is True and quota.primary_reset_at == expected_time(2)
    (suspension,) = await daos.channel_suspensions.list()
    assert (suspension.channel_uid, suspension.channel_type) == (uid["Alpha"], "messages")
    assert suspension.suspended_until == expected_time(30)
    (debug,) = await daos.request_debug_logs.list()
    assert debug.request_id == log_row(0)["id"]
    assert debug.request_body == b"\x1f\x8b\x08\x00\x00\xff body"
    assert debug.response_headers == b"\x00\x01\x02" and debug.response_body == b""
    assert debug.request_modified_headers is None


@pytest.mark.parametrize("layout", ["v1", "v2", "v3"])
async def test_historical_layouts(db: Database, tmp_path: Path, layout: str) -> None:
    source = tmp_path / "legacy"
    source.mkdir()
    write_json(source / "config.json", full_config())
    write_legacy_db(source / "request_logs.db", layout, 12)
    report = await import_directory(db, source)
    logs = report.files[-1].table("request_logs")
    assert (logs.read, logs.added, dict(logs.skipped)) == (12, 12, {})
    row = await db.daos.request_logs.get(log_row(4)["id"])
    assert row is not None and row.client_id == "client-0"  # v1's user_id
    assert row.initial_time == expected_time(4)
    if layout == "v1":
        assert row.status == "completed" and row.provider_name is None  # defaults
        assert row.first_token_duration_ms == 0 and row.api_key_id is None
        assert await db.daos.api_keys.count() == 0
    else:
        assert row.status == "error" and row.api_key_id == 1
    assert await db.daos.user_aliases.count() == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("config.json", b'{"upstream": [{"name": "a"', "config.json: invalid JSON at line 1"),
        (
            "pricing.json",
            b'{"models": {"m": {"inputPrice": "cheap"}}}',
            "pricing.json: $.models.m.inputPrice: expected a number",
        ),
        (
            "quota_usage.json",
            b'{"messages": {"0": {"used": true}}}',
            "quota_usage.json: $.messages.0.used: expected a number",
        ),
        ("request_logs.db", b"this is not a database" * 100, "request_logs.db: cannot read"),
    ],
)
async def test_bad_input_imports_nothing(
    db: Database, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    source = legacy_dir(tmp_path)
    (source / name).write_bytes(content)
    with pytest.raises(LegacyImportError) as info:
        await import_directory(db, source)
    assert str(info.value).startswith(message)
    await assert_nothing_written(db)


async def test_truncated_database_rolls_everything_back(db: Database, tmp_path: Path) -> None:
    source = legacy_dir(tmp_path, logs=3000)
    path = source / "request_logs.db"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 3 // 5])
    with pytest.raises(LegacyImportError) as info:
        await import_directory(db, source)
    assert str(info.value).startswith("request_logs.db: ")
    await assert_nothing_written(db)
    assert await check_schema(db) == []  # the dropped indexes came back with the rollback


async def test_changed_file_is_reported_not_imported(db: Database, tmp_path: Path) -> None:
    source = legacy_dir(tmp_path)
    await import_directory(db, source)
    config = full_config()
    config["upstream"].append({"name": "New", "apiKeys": ["k"]})
    write_json(source / "config.json", config)
    report = await import_directory(db, source)
    status = {f.name: f.status for f in report.files}
    assert status["config.json"] == "changed since import"
    assert status["request_logs.db"] == "already imported"
    assert any("config.json changed" in w for w in report.warnings)
    assert await db.daos.channels.count() == 8 and await revision(db) == "2"


async def test_dry_run_writes_nothing(db: Database, tmp_path: Path) -> None:
    report = await import_directory(db, legacy_dir(tmp_path), dry_run=True)
    assert {f.status for f in report.files} == {"would import"}
    logs = report.files[-1].table("request_logs")
    assert (logs.read, logs.offered, logs.added) == (LOGS, LOGS, None)
    await assert_nothing_written(db)


async def test_skip_migration_and_empty_directory(db: Database, tmp_path: Path) -> None:
    source = legacy_dir(tmp_path)
    report = await import_on_start(db, source, skip=True)
    assert report.files == [] and "SKIP_MIGRATION" in report.warnings[0]
    await assert_nothing_written(db)
    empty = await import_on_start(db, tmp_path / "nothing-here-yet", skip=False)
    assert empty.files == []


async def test_existing_channels_keep_config_out(db: Database, tmp_path: Path) -> None:
    await db.daos.channels.insert(ChannelsRow("ffffffff", "messages", "Mine", "claude"))
    report = await import_directory(db, legacy_dir(tmp_path))
    config = report.files[0]
    assert (config.status, config.detail) == ("skipped", "the database already has channels")
    assert await db.daos.settings.get("import:config.json") is None
    # The database's channels did not come from the legacy config, so a
    # legacy position means nothing: position-keyed rows are skipped.
    logs = report.files[-1]
    assert logs.table("channel_suspensions").skipped == {"position matches no channel": 2}
    assert await db.daos.channel_suspensions.count() == 0
    assert await db.daos.channels.count() == 1


async def test_later_files_use_the_recorded_positions(db: Database, tmp_path: Path) -> None:
    source = legacy_dir(tmp_path)
    later = tmp_path / "later"
    later.mkdir()
    for name in ("request_logs.db", "quota_usage.json"):
        (source / name).rename(later / name)
    await import_directory(db, source)  # the config only
    alpha = (await db.daos.channels.list(order_by="id"))[0]
    assert alpha.name == "Alpha"
    # Reordered since: Alpha now sorts last in its pool.
    await db.daos.channels.delete(alpha.id)
    await db.daos.channels.insert(replace(alpha, id=None))
    for name in ("request_logs.db", "quota_usage.json"):
        (later / name).rename(source / name)
    report = await import_directory(db, source)
    assert {f.name: f.status for f in report.files}["request_logs.db"] == "imported"
    (suspension,) = await db.daos.channel_suspensions.list()
    assert suspension.channel_uid == alpha.channel_id  # position 0 when imported
    usage = {u.channel_id: u.channel_uid for u in await db.daos.channel_usage.list()}
    beta = next(c for c in await db.daos.channels.list() if c.name == "Beta")
    assert usage[1] == beta.channel_id


async def test_go_database_first_then_log_file(db: Database, tmp_path: Path) -> None:
    source = legacy_dir(tmp_path)
    write_legacy_db(source / "cc-bridge.db", "v3", LOGS + 10)  # newer, overlapping
    report = await import_directory(db, source)
    names = [f.name for f in report.files]
    assert names.index("cc-bridge.db") < names.index("request_logs.db")
    added = {f.name: f.table("request_logs").added for f in report.files if f.name.endswith("db")}
    assert added == {"cc-bridge.db": LOGS + 10, "request_logs.db": 0}
    assert await db.daos.request_logs.count() == LOGS + 10


async def test_a_ccbridge_database_is_not_legacy(db: Database, tmp_path: Path) -> None:
    source = tmp_path / "legacy"
    source.mkdir()
    conn = sqlite3.connect(source / "cc-bridge.db")
    conn.execute("CREATE TABLE schema_migrations (version INTEGER, name TEXT, checksum TEXT)")
    conn.close()
    report = await import_directory(db, source)
    assert report.files[0].status == "skipped"
    assert "dbmigrate" in report.files[0].detail


async def test_new_api_key_after_import(db: Database, tmp_path: Path) -> None:
    await import_directory(db, legacy_dir(tmp_path))
    created = await db.daos.api_keys.insert(ApiKeysRow("new", "c" * 64, "sk-ccccc..."))
    assert created.id is not None and created.id > 4


async def test_existing_rollups_count_imported_logs(db: Database, tmp_path: Path) -> None:
    async with db.transaction() as tx:
        await tx.request_logs.insert(RequestLogsRow("req_live", expected_time(0), "p", "m"))
    await rollupdb.rebuild(db)
    await import_directory(db, legacy_dir(tmp_path))
    hourly = [r for r in await db.daos.request_log_rollups.list() if r.span == rollup.HOUR]
    finished = [r for r in await db.daos.request_logs.list() if r.status in rollup.FINAL]
    assert len(finished) > LOGS // 2
    assert sum(r.requests for r in hourly) == len(finished)


async def test_go_database_mode_configuration(db: Database, tmp_path: Path) -> None:
    source = legacy_dir(tmp_path)  # its config.json is what database mode re-created
    write_go_database(source / "cc-bridge.db", logs=LOGS + 5)
    report = await import_directory(db, source)
    status = {f.name: (f.status, f.detail) for f in report.files}
    superseded = ("superseded", "superseded by cc-bridge.db (database mode)")
    for name in ("config.json", "pricing.json", "model-aliases.json", "quota_usage.json"):
        assert status[name] == superseded
    assert status["cc-bridge.db"][0] == status["request_logs.db"][0] == "imported"
    daos = db.daos
    channels = await daos.channels.list(order_by="id")
    assert [(c.channel_type, c.name, c.priority) for c in channels] == [
        ("messages", "First", 1),
        ("messages", "Second", 2),
        ("responses", "Codex", 0),
    ]
    first, second, codex = channels
    assert first.status == "active" and first.queue_enabled is True
    assert first.price_multipliers == {"_default": {"inputMultiplier": 2}}
    assert first.oauth_tokens is None and first.model_mapping is None
    assert first.api_keys == ["k1"] and codex.oauth_tokens == {"access_token": "t"}
    assert second.promotion_until == datetime(2030, 1, 1, tzinfo=UTC)
    settings = {s.key: s.value for s in await daos.settings.list()}
    assert settings["messages_load_balance"] == "random"
    assert settings["pricing_currency"] == "EUR"
    assert settings["config_revision"] == "2"  # ours, bumped; not the Go database's 41
    (price,) = await daos.model_pricing.list()
    assert (price.model_id, price.output_price, price.export_to_models) == ("m1", 3.0, False)
    assert [a.value for a in await daos.model_aliases.list(order_by="id")] == ["first", "second"]
    (usage,) = await daos.channel_usage.list()
    assert (usage.channel_uid, usage.used) == ("aaaa0001", 4.5)  # position 0 = First
    assert await daos.request_logs.count() == LOGS + 5
    again = await import_directory(db, source)
    assert {f.status for f in again.files} == {"already imported"}
    assert "superseded" in {f.name: f.detail for f in again.files}["config.json"]


@pytest.mark.parametrize("engine", ["sqlite"])  # VACUUM is SQLite's
async def test_a_fresh_file_is_not_vacuumed(db: Database, tmp_path: Path) -> None:
    report = await import_directory(db, legacy_dir(tmp_path))
    # Little free to give back (the pages of indexes that migrations dropped):
    # no rewrite of the file.
    assert not report.vacuumed
    assert (await db.daos.maintenance.free_share() or 0) <= importer._VACUUM_ABOVE


@pytest.mark.parametrize("engine", ["sqlite"])
async def test_free_space_is_reclaimed_after_an_import(db: Database, tmp_path: Path) -> None:
    # Free a good part of the file, as a retention run would, then import.
    async with db.transaction() as tx:
        await tx.request_logs.insert_many(
            [RequestLogsRow(f"req_big{n}", expected_time(0), "p", "m", error="x" * 3000)
             for n in range(500)]
        )  # fmt: skip
    await db.daos.request_logs.delete_where({"model": "m"})
    assert (await db.daos.maintenance.free_share() or 0) > 0.1
    report = await import_directory(db, legacy_dir(tmp_path))
    assert report.vacuumed
    assert await db.daos.maintenance.free_share() == 0
