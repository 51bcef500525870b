"""Typed, frozen settings read from the environment.

``Settings.from_env`` is the only place that reads configuration variables;
everything after it gets a ``Settings`` and never looks at ``os.environ``.
Every bad value fails with one line that names the variable, and secrets
(database passwords, the access key) never appear in ``repr`` or messages.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from dotenv.parser import Binding, parse_stream
from psycopg import conninfo as pg_conninfo

from ccbridge.errors import SettingsError

__all__ = (
    "DatabaseType",
    "RunEnv",
    "Settings",
    "StorageBackend",
    "check_conninfo",
    "check_url_scheme",
    "environ_with_dotenv",
    "mask_conninfo",
    "mask_passwords",
    "read_env_file",
)

DatabaseType = Literal["sqlite", "postgres"]
StorageBackend = Literal["database", "json"]
RunEnv = Literal["development", "production"]

_DATABASE_TYPES: Final[dict[str, DatabaseType]] = {
    "sqlite": "sqlite",
    "postgresql": "postgres",
    "postgres": "postgres",
}
_STORAGE_BACKENDS: Final[tuple[StorageBackend, ...]] = ("database", "json")
_SSLMODES: Final = frozenset(("disable", "allow", "prefer", "require", "verify-ca", "verify-full"))
_TRUE: Final = frozenset(("1", "true", "yes", "on"))
_FALSE: Final = frozenset(("0", "false", "no", "off"))
_PG_URL_PREFIXES: Final = ("postgres://", "postgresql://")
_KNOWN_SCHEMES: Final = frozenset(("postgres", "postgresql", "sqlite"))
_URL_SCHEME: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
# user:PASSWORD@ in a postgres URL, up to the last '@' before a '/' or a space
# (so an unencoded '@' in the password is masked too).
_URL_PASSWORD: Final = re.compile(r"(?i)(\bpostgres(?:ql)?://[^\s/:@]*:)[^\s/]*@")
# password=VALUE in a conninfo string; VALUE bare or single-quoted.
_PAIR_PASSWORD: Final = re.compile(r"(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'\"]+)")
_SQLITE_URL_PREFIX: Final = "sqlite:///"
_MASK: Final = "***"

_ORIGIN: Final = re.compile(r"https?://[A-Za-z0-9.-]+(?::\d{1,5})?")
_HEALTH_PATH: Final = re.compile(r"/[A-Za-z0-9._~/-]*")

SQLITE_FILE_NAME: Final = "cc-bridge.db"
_DEFAULT_DATA_DIR: Final = ".config"
# NOTE(storage): DB_* defaults follow the reference's compose sample
# (database and user "ccbridge"); no default password is invented.
_PG_DEFAULTS: Final = {
    "host": "localhost",
    "port": "5432",
    "dbname": "ccbridge",
    "user": "ccbridge",
}


@dataclass(frozen=True, slots=True, repr=False)
class Settings:
    """Process settings; build them with ``Settings.from_env``.

    Attributes:
        database_type: ``"sqlite"`` or ``"postgres"``.
        sqlite_path: Database file (or ``:memory:``); used with SQLite.
        sqlite_origin: The variable ``sqlite_path`` came from, for errors.
        postgres_conninfo: libpq URL or conninfo; used with PostgreSQL.
        data_dir: Directory of local state (``.config`` by default).
        pool_min: Connections kept open in the PostgreSQL pool.
        pool_max: Upper bound of the PostgreSQL pool.
        pool_max_lifetime: Seconds before a pooled connection is replaced.
        config_poll_interval: Seconds between config revision polls.
        storage_backend: ``"database"`` or ``"json"`` (legacy files).
        host: Address the HTTP server binds.
        port: Port the HTTP server binds.
        proxy_access_key: Master key of the proxy (secret).
        max_request_body_mb: Largest accepted request body, in MiB.
        request_timeout_ms: Upstream request timeout, in milliseconds.
        stream_idle_timeout_ms: Longest silence of an upstream stream, in ms.
        stream_max_duration_ms: Longest upstream stream, in milliseconds.
        shutdown_grace_s: Seconds proxied requests get to finish on SIGTERM.
        api_max_body_mb: Largest accepted /api request body, in MiB.
        trusted_proxies: Addresses/networks whose X-Forwarded-For is believed.
        workers: Number of server worker processes.
        skip_migration: Skip importing legacy JSON files at startup.
        request_logs: Record every proxied request in request_logs.
        metrics_enabled: Serve GET /metrics (Prometheus).
        metrics_token: Bearer token GET /metrics requires, if set (secret).
        log_level: Level of ccbridge's log (debug, info, warning, error).
        log_format: ``"text"`` or ``"json"`` (one object per line).
        env: ``"development"`` or ``"production"`` (``ENV``, else ``NODE_ENV``);
            development serves ``GET /admin/dev/info``, as the reference does.
        enable_cors: Answer browsers from ``cors_origins`` (``ENABLE_CORS``).
        cors_origins: Origins allowed when CORS is on (``CORS_ORIGIN``,
            comma-separated; ``*`` allows any).
        db_startup_retries: Further tries to reach the database at startup.
        db_startup_retry_delay: Seconds between those tries.
        health_check_path: Path of the unauthenticated health probe.
        config_history_revisions: Config revisions kept in the history.
        config_history_days: Days a config revision is kept in the history.
        config_backups_keep: Automatic server-side backups kept.
        codex_token_url: OAuth token endpoint refreshing ``openai-oauth`` tokens.
    """

    database_type: DatabaseType = "sqlite"
    sqlite_path: Path = Path(_DEFAULT_DATA_DIR) / SQLITE_FILE_NAME
    sqlite_origin: str = "CCBRIDGE_DATA_DIR"
    postgres_conninfo: str = ""
    data_dir: Path = Path(_DEFAULT_DATA_DIR)
    pool_min: int = 5
    pool_max: int = 25
    pool_max_lifetime: float = 300.0
    config_poll_interval: int = 5
    storage_backend: StorageBackend = "database"
    host: str = "127.0.0.1"
    port: int = 3000
    proxy_access_key: str = ""
    max_request_body_mb: int = 20
    request_timeout_ms: int = 300_000
    stream_idle_timeout_ms: int = 300_000
    stream_max_duration_ms: int = 3_600_000
    shutdown_grace_s: int = 30
    api_max_body_mb: int = 4
    trusted_proxies: tuple[str, ...] = ()
    workers: int = 1
    skip_migration: bool = False
    request_logs: bool = True
    enable_web_ui: bool = True
    metrics_enabled: bool = True
    metrics_token: str = ""
    log_level: str = "info"
    log_format: str = "text"
    env: RunEnv = "development"
    enable_cors: bool = False
    cors_origins: tuple[str, ...] = ()
    db_startup_retries: int = 5
    db_startup_retry_delay: float = 2.0
    health_check_path: str = "/health"
    config_history_revisions: int = 500
    config_history_days: int = 90
    config_backups_keep: int = 20
    codex_token_url: str = "https://auth.openai.com/oauth/token"

    @classmethod
    def from_env(cls, env: Mapping[str, str], cwd: Path | None = None) -> Settings:
        """Build settings from environment variables.

        Args:
            env: Variables, e.g. ``os.environ`` or ``environ_with_dotenv()``.
            cwd: Directory that relative paths resolve against; defaults
                to the process working directory.

        Raises:
            SettingsError: A variable is malformed; the message is one line.
        """
        base = cwd if cwd is not None else Path.cwd()
        data_dir = base / (_get(env, "CCBRIDGE_DATA_DIR") or _DEFAULT_DATA_DIR)
        database_type = _database_type(env)
        pool_min = _int(env, "DB_POOL_MIN", 5, minimum=0)
        pool_max = _int(env, "DB_POOL_MAX", 25, minimum=1)
        if pool_min > pool_max:
            raise SettingsError(
                f"DB_POOL_MIN ({pool_min}) must not exceed DB_POOL_MAX ({pool_max})"
            )
        poll = _int(env, "CONFIG_POLL_INTERVAL", 5)
        enable_cors = _bool(env, "ENABLE_CORS", False)
        cors_origins = _cors_origins(env) if enable_cors else ()
        return cls(
            database_type=database_type,
            sqlite_path=_sqlite_path(env, base, data_dir, database_type),
            sqlite_origin="DATABASE_URL" if _get(env, "DATABASE_URL") else "CCBRIDGE_DATA_DIR",
            postgres_conninfo=_postgres_conninfo(env) if database_type == "postgres" else "",
            data_dir=data_dir,
            pool_min=pool_min,
            pool_max=pool_max,
            pool_max_lifetime=_float(env, "DB_POOL_MAX_LIFETIME", 300.0, minimum=1.0),
            # NOTE(storage): the reference treats a poll interval below 1 as unset.
            config_poll_interval=poll if poll >= 1 else 5,
            storage_backend=_storage_backend(env),
            host=_get(env, "HOST") or "127.0.0.1",
            port=_int(env, "PORT", 3000, minimum=0, maximum=65535),
            proxy_access_key=_get(env, "PROXY_ACCESS_KEY") or "",
            max_request_body_mb=_int(env, "MAX_REQUEST_BODY_MB", 20, minimum=1),
            request_timeout_ms=_int(env, "REQUEST_TIMEOUT", 300_000, minimum=1),
            stream_idle_timeout_ms=_int(env, "STREAM_IDLE_TIMEOUT", 300_000, minimum=1),
            stream_max_duration_ms=_int(env, "STREAM_MAX_DURATION", 3_600_000, minimum=1),
            shutdown_grace_s=_int(env, "SHUTDOWN_GRACE_PERIOD", 30, minimum=0, maximum=86_400),
            api_max_body_mb=_int(env, "API_MAX_BODY_MB", 4, minimum=1),
            trusted_proxies=tuple(
                p.strip() for p in (_get(env, "TRUSTED_PROXIES") or "").split(",") if p.strip()
            ),
            workers=_int(env, "WORKERS", 1, minimum=1),
            skip_migration=_bool(env, "SKIP_MIGRATION", False),
            request_logs=_bool(env, "REQUEST_LOGS", True),
            enable_web_ui=_bool(env, "ENABLE_WEB_UI", True),
            metrics_enabled=_bool(env, "METRICS_ENABLED", True),
            metrics_token=_get(env, "METRICS_TOKEN") or "",
            log_level=_choice(env, "LOG_LEVEL", "info", ("debug", "info", "warning", "error")),
            log_format=_choice(env, "LOG_FORMAT", "text", ("text", "json")),
            env=_run_env(env),
            enable_cors=enable_cors,
            cors_origins=cors_origins,
            db_startup_retries=_int(env, "DATABASE_STARTUP_RETRIES", 5, minimum=0, maximum=1000),
            db_startup_retry_delay=_float(
                env, "DATABASE_STARTUP_RETRY_DELAY_SECONDS", 2.0, minimum=0.0
            ),
            health_check_path=_health_check_path(env),
            config_history_revisions=_int(env, "CONFIG_HISTORY_REVISIONS", 500, minimum=1),
            config_history_days=_int(env, "CONFIG_HISTORY_DAYS", 90, minimum=1),
            config_backups_keep=_int(env, "CONFIG_BACKUPS_KEEP", 20, minimum=0),
            codex_token_url=_get(env, "CODEX_OAUTH_TOKEN_URL")
            or "https://auth.openai.com/oauth/token",
        )

    @property
    def database_display(self) -> str:
        """Return where the database lives, with any password masked."""
        if self.database_type == "sqlite":
            return str(self.sqlite_path)
        return mask_conninfo(self.postgres_conninfo)

    def __repr__(self) -> str:
        key = _MASK if self.proxy_access_key else ""
        return (
            f"Settings(database_type={self.database_type!r}, "
            f"database={self.database_display!r}, data_dir={str(self.data_dir)!r}, "
            f"pool_min={self.pool_min}, pool_max={self.pool_max}, "
            f"pool_max_lifetime={self.pool_max_lifetime}, "
            f"config_poll_interval={self.config_poll_interval}, "
            f"storage_backend={self.storage_backend!r}, host={self.host!r}, "
            f"port={self.port}, proxy_access_key={key!r}, "
            f"max_request_body_mb={self.max_request_body_mb}, "
            f"request_timeout_ms={self.request_timeout_ms}, "
            f"stream_idle_timeout_ms={self.stream_idle_timeout_ms}, "
            f"stream_max_duration_ms={self.stream_max_duration_ms}, "
            f"shutdown_grace_s={self.shutdown_grace_s}, "
            f"api_max_body_mb={self.api_max_body_mb}, "
            f"trusted_proxies={self.trusted_proxies!r}, workers={self.workers}, "
            f"skip_migration={self.skip_migration}, request_logs={self.request_logs})"
        )

    __str__ = __repr__


def mask_conninfo(conninfo: str) -> str:
    """Return a PostgreSQL URL or conninfo with its password masked.

    The result is always in ``key=value`` form; an unparseable string is
    not echoed at all, since it may hold a password.
    """
    try:
        params = pg_conninfo.conninfo_to_dict(conninfo)
    except Exception:  # noqa: BLE001 - any parse failure means "do not echo"
        return "<invalid conninfo>"
    if params.get("password"):
        params["password"] = _MASK
    return pg_conninfo.make_conninfo("", **params)


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a ``.env`` file with python-dotenv; a missing file yields ``{}``.

    Quoting, ``#`` comments (also after a quoted value), escapes and the
    ``export`` prefix follow python-dotenv. ``${VAR}`` is not expanded, so
    a ``$`` in a password stays as written.

    Raises:
        SettingsError: A statement is not ``KEY=value``; names its line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    values: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(text)):
        # NOTE(settings): a bare KEY parses with value None; the old
        # reader refused it, and "set to nothing" is spelled KEY=.
        if binding.error or (binding.key is not None and binding.value is None):
            raise SettingsError(f"{path}:{_first_line(binding)}: expected KEY=value")
        if binding.key is not None and binding.value is not None:
            values[binding.key] = binding.value
    return values


def _first_line(binding: Binding) -> int:
    # A statement's text starts with the blank lines before it.
    text = binding.original.string
    return binding.original.line + text[: len(text) - len(text.lstrip())].count("\n")


def environ_with_dotenv(
    path: Path = Path(".env"), environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Return the environment overlaid on a ``.env`` file.

    Real environment variables win over the file, as with docker and
    systemd ``EnvironmentFile``.
    """
    return {**read_env_file(path), **(os.environ if environ is None else environ)}


def _get(env: Mapping[str, str], name: str) -> str | None:
    # NOTE(storage): blank counts as unset, as compose files write `DB_PASSWORD=`.
    value = env.get(name, "").strip()
    return value or None


def _int(
    env: Mapping[str, str],
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    raw = _get(env, name)
    if raw is None:
        return default
    return _parse_int(name, raw, minimum, maximum)


def _parse_int(name: str, raw: str, minimum: int | None, maximum: int | None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    _check_range(name, value, minimum, maximum)
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
    _check_range(name, value, minimum, None)
    return value


def _check_range(name: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name} must be at most {maximum}, got {value}")


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (_get(env, name) or default).lower()
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)} (got {value!r})")
    return value


def _cors_origins(env: Mapping[str, str]) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in (_get(env, "CORS_ORIGIN") or "").split(","))
    origins = tuple(o for o in origins if o)
    if not origins:
        raise SettingsError("ENABLE_CORS=true needs CORS_ORIGIN: the allowed origins, or *")
    for origin in origins:
        if origin != "*" and not _ORIGIN.fullmatch(origin):
            raise SettingsError(
                f"CORS_ORIGIN: {origin!r} is not an origin such as https://ui.example.com"
            )
    return origins


def _health_check_path(env: Mapping[str, str]) -> str:
    path = _get(env, "HEALTH_CHECK_PATH") or "/health"
    taken = path == "/" or path.startswith(("/v1/", "/v1beta/", "/api/", "/admin/"))
    if taken or not _HEALTH_PATH.fullmatch(path):
        raise SettingsError(
            f"HEALTH_CHECK_PATH must be a path such as /health, outside /, /v1, /api and "
            f"/admin (got {path!r})"
        )
    return path


_RUN_ENVS: Final[dict[str, RunEnv]] = {
    "development": "development",
    "dev": "development",
    "production": "production",
    "prod": "production",
}


def _run_env(env: Mapping[str, str]) -> RunEnv:
    # NOTE(settings): the reference reads ENV, then NODE_ENV; "dev" and
    # "prod" are its short spellings.
    name = "ENV" if _get(env, "ENV") else "NODE_ENV"
    value = (_get(env, name) or "development").lower()
    if value not in _RUN_ENVS:
        raise SettingsError(f"{name} must be development or production (got {value!r})")
    return _RUN_ENVS[value]


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _get(env, name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _database_type(env: Mapping[str, str]) -> DatabaseType:
    raw = _get(env, "DATABASE_TYPE") or "sqlite"
    try:
        return _DATABASE_TYPES[raw.lower()]
    except KeyError:
        raise SettingsError(f"DATABASE_TYPE must be sqlite or postgresql, got {raw!r}") from None


def _storage_backend(env: Mapping[str, str]) -> StorageBackend:
    raw = (_get(env, "STORAGE_BACKEND") or "database").lower()
    for backend in _STORAGE_BACKENDS:
        if raw == backend:
            return backend
    raise SettingsError(f"STORAGE_BACKEND must be database or json, got {raw!r}")


def _sqlite_path(
    env: Mapping[str, str], base: Path, data_dir: Path, database_type: DatabaseType
) -> Path:
    url = _get(env, "DATABASE_URL") if database_type == "sqlite" else None
    if url is None:
        return data_dir / SQLITE_FILE_NAME
    if url.startswith(_PG_URL_PREFIXES):
        raise SettingsError("DATABASE_URL is a PostgreSQL URL but DATABASE_TYPE is sqlite")
    check_url_scheme(url, "DATABASE_URL")
    if url.startswith("sqlite:"):
        # NOTE(storage): SQLAlchemy's convention: sqlite:///rel.db is
        # relative, sqlite:////abs.db absolute.
        if not url.startswith(_SQLITE_URL_PREFIX) or "?" in url:
            raise SettingsError("DATABASE_URL must look like sqlite:///path/to/file.db")
        url = url.removeprefix(_SQLITE_URL_PREFIX)
        if not url:
            raise SettingsError("DATABASE_URL names no SQLite file")
    if url == ":memory:":
        return Path(url)
    return base / Path(url).expanduser()


def _postgres_conninfo(env: Mapping[str, str]) -> str:
    url = _get(env, "DATABASE_URL")
    if url is not None:
        if url.startswith("sqlite:"):
            raise SettingsError("DATABASE_URL is an SQLite URL but DATABASE_TYPE is postgresql")
        return check_conninfo(url)
    params = {
        key: _get(env, f"DB_{name}") or _PG_DEFAULTS[key]
        for key, name in (("host", "HOST"), ("port", "PORT"), ("dbname", "NAME"), ("user", "USER"))
    }
    params["port"] = str(_parse_int("DB_PORT", params["port"], 1, 65535))
    password = _get(env, "DB_PASSWORD")
    if password is not None:
        params["password"] = password
    sslmode = _get(env, "DB_SSLMODE")
    if sslmode is not None:
        if sslmode not in _SSLMODES:
            raise SettingsError(
                f"DB_SSLMODE must be one of {', '.join(sorted(_SSLMODES))}, got {sslmode!r}"
            )
        params["sslmode"] = sslmode
    return pg_conninfo.make_conninfo("", **params)


def check_conninfo(value: str, name: str = "DATABASE_URL") -> str:
    """Return ``value`` if it is a PostgreSQL URL or conninfo string.

    Args:
        value: The location; never echoed, since it may hold a password.
        name: What the value came from (a variable or a flag), for errors.

    Raises:
        SettingsError: Another scheme, or a string libpq cannot parse.
    """
    check_url_scheme(value, name)
    if value.startswith("sqlite:"):
        raise SettingsError(f"{name} is an SQLite URL but a PostgreSQL database is expected")
    if not value.startswith(_PG_URL_PREFIXES) and "=" not in value:
        raise SettingsError(f"{name} must be a postgresql:// URL or a key=value conninfo string")
    try:
        pg_conninfo.conninfo_to_dict(value)
    except Exception:  # noqa: BLE001 - the driver's message may echo the password
        raise SettingsError(f"{name} is not a valid PostgreSQL URL or conninfo string") from None
    return value


def check_url_scheme(value: str, name: str) -> None:
    """Refuse a ``scheme://`` location whose scheme names no engine we run.

    Without this, ``mysql://u@h/db`` reads as a relative SQLite path and a
    file appears at ``./mysql:/u@h/db``.

    Raises:
        SettingsError: Names ``name`` and the scheme, never the rest.
    """
    match = _URL_SCHEME.match(value)
    if match is None:
        return
    scheme = match.group(1).lower()
    if scheme not in _KNOWN_SCHEMES:
        raise SettingsError(
            f"{name}: unknown URL scheme {scheme + '://'!r}; use an SQLite path, "
            "sqlite:///path/to/file.db or a postgresql:// URL"
        )
    if scheme == "sqlite" and not value.startswith(_SQLITE_URL_PREFIX):
        raise SettingsError(f"{name} must look like sqlite:///path/to/file.db")


def mask_passwords(text: str) -> str:
    """Return ``text`` with the password of each PostgreSQL URL or conninfo masked.

    Structural: only a URL's password component and the value of a
    ``password=`` pair change, so other words that happen to contain the
    password are left alone.
    """
    text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{_MASK}@", text)
    return _PAIR_PASSWORD.sub(lambda m: f"{m.group(1)}{_MASK}", text)
