"""Settings.from_env: defaults, parsing, one-line errors, masked secrets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from ccbridge.errors import SettingsError
from ccbridge.settings import (
    Settings,
    environ_with_dotenv,
    mask_conninfo,
    mask_passwords,
    read_env_file,
)

PASSWORD = "pa55-w0rd-secret"


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env(env, cwd=tmp_path)


def error(tmp_path: Path, **env: str) -> str:
    with pytest.raises(SettingsError) as info:
        settings(tmp_path, **env)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_defaults_follow_the_reference(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert s.database_type == "sqlite"
    assert s.sqlite_path == tmp_path / ".config" / "cc-bridge.db"
    assert s.data_dir == tmp_path / ".config"
    assert (s.pool_min, s.pool_max, s.pool_max_lifetime) == (5, 25, 300.0)
    assert s.config_poll_interval == 5
    assert s.storage_backend == "database"
    assert (s.host, s.port) == ("127.0.0.1", 3000)
    assert (s.max_request_body_mb, s.request_timeout_ms, s.workers) == (20, 300_000, 1)
    assert s.proxy_access_key == ""
    assert s.skip_migration is False


def test_settings_are_frozen(tmp_path: Path) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings(tmp_path).port = 1  # type: ignore[misc]


def test_data_dir_moves_the_default_sqlite_file(tmp_path: Path) -> None:
    assert settings(tmp_path, CCBRIDGE_DATA_DIR="state").sqlite_path == (
        tmp_path / "state" / "cc-bridge.db"
    )
    absolute = tmp_path / "abs"
    assert settings(tmp_path, CCBRIDGE_DATA_DIR=str(absolute)).data_dir == absolute


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("sqlite", "sqlite"),
        ("SQLite", "sqlite"),
        ("postgresql", "postgres"),
        ("PostgreSQL", "postgres"),
        ("postgres", "postgres"),
        ("POSTGRES", "postgres"),
    ],
)
def test_database_type_is_case_blind_and_accepts_both_pg_names(
    tmp_path: Path, raw: str, expected: str
) -> None:
    assert settings(tmp_path, DATABASE_TYPE=raw).database_type == expected


def test_unknown_database_type_is_one_clear_line(tmp_path: Path) -> None:
    assert error(tmp_path, DATABASE_TYPE="mysql") == (
        "DATABASE_TYPE must be sqlite or postgresql, got 'mysql'"
    )


@pytest.mark.parametrize(
    ("url", "relative"),
    [("data/x.db", "data/x.db"), ("sqlite:///rel/x.db", "rel/x.db")],
)
def test_sqlite_url_relative_forms(tmp_path: Path, url: str, relative: str) -> None:
    assert settings(tmp_path, DATABASE_URL=url).sqlite_path == tmp_path / relative


def test_sqlite_url_absolute_forms(tmp_path: Path) -> None:
    target = tmp_path / "abs.db"
    assert settings(tmp_path, DATABASE_URL=str(target)).sqlite_path == target
    assert settings(tmp_path, DATABASE_URL=f"sqlite:///{target}").sqlite_path == target
    assert settings(tmp_path, DATABASE_URL=":memory:").sqlite_path == Path(":memory:")


@pytest.mark.parametrize(
    "url", ["sqlite://host/x.db", "sqlite:///x.db?mode=ro", "sqlite:///", "postgres://h/db"]
)
def test_bad_sqlite_urls(tmp_path: Path, url: str) -> None:
    assert "DATABASE_URL" in error(tmp_path, DATABASE_URL=url)


def test_postgres_url_and_conninfo_are_kept(tmp_path: Path) -> None:
    url = f"postgresql://app:{PASSWORD}@db.internal:6543/bridge?sslmode=require"
    s = settings(tmp_path, DATABASE_TYPE="postgresql", DATABASE_URL=url)
    assert s.postgres_conninfo == url
    conninfo = "host=db port=5432 dbname=bridge user=app"
    assert settings(
        tmp_path, DATABASE_TYPE="postgres", DATABASE_URL=conninfo
    ).postgres_conninfo == (conninfo)


@pytest.mark.parametrize(
    "url",
    ["just-a-path.db", "sqlite:///x.db", f"host=h password={PASSWORD} 'unterminated"],
)
def test_bad_postgres_urls_never_echo_the_password(tmp_path: Path, url: str) -> None:
    message = error(tmp_path, DATABASE_TYPE="postgres", DATABASE_URL=url)
    assert "DATABASE_URL" in message
    assert PASSWORD not in message


def test_db_defaults_build_a_conninfo(tmp_path: Path) -> None:
    s = settings(tmp_path, DATABASE_TYPE="postgres")
    assert conninfo_to_dict(s.postgres_conninfo) == {
        "host": "localhost",
        "port": "5432",
        "dbname": "ccbridge",
        "user": "ccbridge",
    }


def test_db_variables_build_a_working_conninfo(tmp_path: Path, pg_dsn: str) -> None:
    server = conninfo_to_dict(pg_dsn)
    s = settings(
        tmp_path,
        DATABASE_TYPE="postgresql",
        DB_HOST=str(server["host"]),
        DB_PORT=str(server["port"]),
        DB_NAME=str(server["dbname"]),
        DB_USER=str(server["user"]),
        DB_PASSWORD=PASSWORD,  # the test server trusts, so any password works
        DB_SSLMODE="disable",
    )
    assert conninfo_to_dict(s.postgres_conninfo)["password"] == PASSWORD
    with psycopg.connect(s.postgres_conninfo) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (server["dbname"],)
    assert PASSWORD not in repr(s) and PASSWORD not in str(s)


def test_database_url_wins_over_db_variables(tmp_path: Path) -> None:
    s = settings(tmp_path, DATABASE_TYPE="postgres", DATABASE_URL="host=a", DB_HOST="b")
    assert s.postgres_conninfo == "host=a"


def test_db_variable_errors_name_the_variable(tmp_path: Path) -> None:
    assert error(tmp_path, DATABASE_TYPE="postgres", DB_PORT="abc") == (
        "DB_PORT must be an integer, got 'abc'"
    )
    assert "DB_SSLMODE" in error(tmp_path, DATABASE_TYPE="postgres", DB_SSLMODE="sometimes")


@pytest.mark.parametrize(
    ("name", "raw", "words"),
    [
        ("PORT", "abc", "PORT must be an integer, got 'abc'"),
        ("PORT", "70000", "PORT must be at most 65535"),
        ("WORKERS", "0", "WORKERS must be at least 1"),
        ("DB_POOL_MAX", "x", "DB_POOL_MAX must be an integer"),
        ("DB_POOL_MIN", "-1", "DB_POOL_MIN must be at least 0"),
        ("DB_POOL_MAX_LIFETIME", "soon", "DB_POOL_MAX_LIFETIME must be a number of seconds"),
        ("MAX_REQUEST_BODY_MB", "1.5", "MAX_REQUEST_BODY_MB must be an integer"),
        ("REQUEST_TIMEOUT", "0", "REQUEST_TIMEOUT must be at least 1"),
        ("CONFIG_POLL_INTERVAL", "often", "CONFIG_POLL_INTERVAL must be an integer"),
        ("STORAGE_BACKEND", "redis", "STORAGE_BACKEND must be database or json"),
        ("SKIP_MIGRATION", "maybe", "SKIP_MIGRATION must be true or false"),
    ],
)
def test_bad_values_fail_with_one_line_naming_the_variable(
    tmp_path: Path, name: str, raw: str, words: str
) -> None:
    assert error(tmp_path, **{name: raw}).startswith(words)


def test_pool_min_above_max_is_refused(tmp_path: Path) -> None:
    assert "DB_POOL_MIN (9) must not exceed DB_POOL_MAX (3)" in error(
        tmp_path, DB_POOL_MIN="9", DB_POOL_MAX="3"
    )


@pytest.mark.parametrize(("raw", "expected"), [("0", 5), ("-3", 5), ("1", 1), ("30", 30)])
def test_poll_interval_below_one_means_default(tmp_path: Path, raw: str, expected: int) -> None:
    assert settings(tmp_path, CONFIG_POLL_INTERVAL=raw).config_poll_interval == expected


def test_values_are_parsed(tmp_path: Path) -> None:
    s = settings(
        tmp_path,
        PORT="8080",
        HOST="0.0.0.0",
        WORKERS="4",
        DB_POOL_MIN="1",
        DB_POOL_MAX="3",
        DB_POOL_MAX_LIFETIME="1.5",
        STORAGE_BACKEND="JSON",
        SKIP_MIGRATION="yes",
        REQUEST_TIMEOUT="1000",
        MAX_REQUEST_BODY_MB="50",
    )
    assert (s.port, s.host, s.workers) == (8080, "0.0.0.0", 4)
    assert (s.pool_min, s.pool_max, s.pool_max_lifetime) == (1, 3, 1.5)
    assert (s.storage_backend, s.skip_migration) == ("json", True)
    assert (s.request_timeout_ms, s.max_request_body_mb) == (1000, 50)


def test_blank_values_count_as_unset(tmp_path: Path) -> None:
    s = settings(tmp_path, PORT="", DATABASE_TYPE=" ", DB_PASSWORD="", PROXY_ACCESS_KEY="")
    assert (s.port, s.database_type, s.proxy_access_key) == (3000, "sqlite", "")


def test_secrets_never_appear_in_repr(tmp_path: Path) -> None:
    key = "proxy-access-key-0123456789"
    url = f"postgresql://app:{PASSWORD}@db/bridge"
    s = settings(tmp_path, DATABASE_TYPE="postgres", DATABASE_URL=url, PROXY_ACCESS_KEY=key)
    for text in (repr(s), str(s), s.database_display):
        assert PASSWORD not in text and key not in text
    assert "password=***" in s.database_display
    assert "proxy_access_key='***'" in repr(s)


def test_mask_conninfo() -> None:
    masked = mask_conninfo(f"host=h password={PASSWORD}")
    assert conninfo_to_dict(masked) == {"host": "h", "password": "***"}
    assert mask_conninfo("host=h") == "host=h"
    assert mask_conninfo(f"password={PASSWORD} 'broken") == "<invalid conninfo>"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            'connection to server at "h", port 5432 failed: is it accepting TCP/IP?',
            'connection to server at "h", port 5432 failed: is it accepting TCP/IP?',
        ),
        (
            "see postgresql://u:p@h:5432/db?sslmode=require",
            "see postgresql://u:***@h:5432/db?sslmode=require",
        ),
        ("postgres://:p@ss:w@h/db", "postgres://:***@h/db"),  # an unencoded '@' too
        ("postgresql://u@h/db", "postgresql://u@h/db"),  # no password
        ("host=h password=p port=5", "host=h password=*** port=5"),
        ("password = 'a b\\' c' user=u", "password = *** user=u"),
    ],
)
def test_mask_passwords_is_structural(text: str, masked: str) -> None:
    assert mask_passwords(text) == masked


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": "mysql://u:p@h/db"}, "DATABASE_URL: unknown URL scheme 'mysql://'"),
        (
            {"DATABASE_URL": "sqlite://x.db"},
            "DATABASE_URL must look like sqlite:///path/to/file.db",
        ),
        (
            {"DATABASE_TYPE": "postgresql", "DATABASE_URL": "mysql://u:p@h/db?a=b"},
            "DATABASE_URL: unknown URL scheme 'mysql://'",
        ),
    ],
)
def test_unknown_url_scheme_is_refused(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env, cwd=tmp_path)
    assert str(info.value).startswith(message) and "u:p" not in str(info.value)


def test_sqlite_origin_names_the_variable(tmp_path: Path) -> None:
    assert Settings.from_env({}, cwd=tmp_path).sqlite_origin == "CCBRIDGE_DATA_DIR"
    chosen = Settings.from_env({"DATABASE_URL": "x.db"}, cwd=tmp_path)
    assert (chosen.sqlite_origin, chosen.sqlite_path) == ("DATABASE_URL", tmp_path / "x.db")


def test_env_file_parsing(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(
        "# comment\n\nPORT=8080\nexport HOST=0.0.0.0\nDB_PASSWORD='a b#c $HOME'\n"
        'PROXY_ACCESS_KEY="quoted value" # note\nDATABASE_TYPE=postgres # inline comment\n'
        "DB_USER='single' # note\nEMPTY=\n  SPACED = x  \n"
        'ESCAPED="a\\"b"\nexport QUOTED_EXPORT="e v"\n'
    )
    assert read_env_file(path) == {
        "PORT": "8080",
        "HOST": "0.0.0.0",
        "DB_PASSWORD": "a b#c $HOME",  # no expansion, '#' inside quotes kept
        "PROXY_ACCESS_KEY": "quoted value",  # quotes and the comment after them dropped
        "DATABASE_TYPE": "postgres",
        "DB_USER": "single",
        "EMPTY": "",
        "SPACED": "x",
        "ESCAPED": 'a"b',
        "QUOTED_EXPORT": "e v",
    }
    assert read_env_file(tmp_path / "missing.env") == {}


def test_quoted_access_key_with_comment_matches(tmp_path: Path) -> None:
    # The hand-written reader kept '"sk-master-key-0123"' with its quotes,
    # so the key a client sent never matched.
    path = tmp_path / ".env"
    path.write_text('PROXY_ACCESS_KEY="sk-master-key-0123" # the master key\n')
    settings = Settings.from_env(environ_with_dotenv(path, {}), cwd=tmp_path)
    assert settings.proxy_access_key == "sk-master-key-0123"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("PORT=1\nnot a setting\n", 2),
        ("PORT=1\nHOST=h\nBARE\n", 3),
        ('K="open\n', 1),
        ("PORT=1\n\n\nbad line\n", 4),  # the blank lines before it are not counted in
        ("# c\n\nBARE\n", 3),
    ],
)
def test_env_file_errors_point_at_the_line(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / ".env"
    path.write_text(text)
    with pytest.raises(SettingsError, match=rf"\.env:{line}: expected KEY=value"):
        read_env_file(path)


def test_real_environment_wins_over_env_file(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("PORT=1\nHOST=file\n")
    assert environ_with_dotenv(path, {"PORT": "2"}) == {"PORT": "2", "HOST": "file"}
    settings = Settings.from_env(environ_with_dotenv(path, {"PORT": "2"}), cwd=tmp_path)
    assert (settings.port, settings.host) == (2, "file")


def test_env_follows_the_reference(tmp_path: Path) -> None:
    assert settings(tmp_path).env == "development"
    assert settings(tmp_path, ENV="production").env == "production"
    assert settings(tmp_path, NODE_ENV="prod").env == "production"
    assert settings(tmp_path, ENV="dev", NODE_ENV="production").env == "development"
    assert "ENV must be development or production" in error(tmp_path, ENV="staging")


def test_cors_retries_and_health_path(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert (s.enable_cors, s.cors_origins, s.health_check_path) == (False, (), "/health")
    assert (s.db_startup_retries, s.db_startup_retry_delay) == (5, 2.0)
    on = settings(tmp_path, ENABLE_CORS="true", CORS_ORIGIN="https://a.example, http://b:8080/")
    assert on.cors_origins == ("https://a.example", "http://b:8080")
    assert settings(tmp_path, CORS_ORIGIN="https://a.example").cors_origins == ()
    assert "needs CORS_ORIGIN" in error(tmp_path, ENABLE_CORS="true")
    assert "not an origin" in error(tmp_path, ENABLE_CORS="1", CORS_ORIGIN="a.example/x")
    tuned = settings(
        tmp_path, DATABASE_STARTUP_RETRIES="0", DATABASE_STARTUP_RETRY_DELAY_SECONDS="0.5"
    )
    assert (tuned.db_startup_retries, tuned.db_startup_retry_delay) == (0, 0.5)
    assert "DATABASE_STARTUP_RETRIES" in error(tmp_path, DATABASE_STARTUP_RETRIES="-1")
    assert settings(tmp_path, HEALTH_CHECK_PATH="/healthz").health_check_path == "/healthz"
    for bad in ("health", "/", "/api/health", "/v1/health", "/a b"):
        assert "HEALTH_CHECK_PATH" in error(tmp_path, HEALTH_CHECK_PATH=bad)
