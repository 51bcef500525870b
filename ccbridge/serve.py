"""`ccbridge serve`: run the proxy on uvicorn, in one or several processes.

Several workers (`--workers N` or WORKERS) are separate processes sharing
the database exactly as separate instances would: each opens its own
connections, runs its own writer and reloads config by revision. On Linux
each listens on a socket of its own (`ccbridge.workers`).
"""

from __future__ import annotations

import argparse
import os

import uvicorn

from ccbridge.app import create_app
from ccbridge.db.sqlite import prepare_path
from ccbridge.errors import SettingsError
from ccbridge.settings import Settings
from ccbridge.workers import check_port_free, reuse_port_supported, run_workers

__all__ = ("add_serve_arguments", "check_serving", "run_serve")

_INSECURE_DEFAULT = "your-proxy-access-key"
_MIN_KEY_LENGTH = 16


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the serve options (each overrides its environment variable)."""
    parser.add_argument("--host", help="address to listen on (HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (PORT, default 3000)")
    parser.add_argument("--workers", type=int, help="worker processes (WORKERS, default 1)")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("debug", "info", "warning", "error"),
        help="uvicorn's log level (default info)",
    )


def check_serving(settings: Settings) -> None:
    """Refuse settings that must not serve traffic.

    The SQLite path is checked here, before uvicorn starts, so a bad one
    fails in one line rather than as a lifespan traceback.
    """
    if settings.database_type == "sqlite" and str(settings.sqlite_path) != ":memory:":
        prepare_path(settings.sqlite_path, settings.sqlite_origin)
    key = settings.proxy_access_key
    if key and key == _INSECURE_DEFAULT:
        raise SettingsError("PROXY_ACCESS_KEY is the example value; set a secret of your own")
    if key and len(key) < _MIN_KEY_LENGTH:
        raise SettingsError(
            f"PROXY_ACCESS_KEY must be at least {_MIN_KEY_LENGTH} characters (got {len(key)})"
        )


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until interrupted; return the exit status."""
    check_serving(settings)
    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    if workers < 1:
        raise SettingsError("--workers must be at least 1")
    common = {
        "host": host,
        "port": port,
        "log_level": args.log_level,
        "access_log": False,
        "lifespan": "on",
    }
    if workers == 1:
        uvicorn.run(create_app(settings, serving=True), **common)
        return 0
    # Worker processes build their app from the environment: pass the overrides on.
    os.environ.update({"HOST": host, "PORT": str(port), "WORKERS": str(workers)})
    if not reuse_port_supported():  # one shared socket: balance left to chance
        uvicorn.run("ccbridge.app:factory", factory=True, workers=workers, **common)
        return 0
    try:
        check_port_free(host, port)  # fail once, here, if the port is taken
    except OSError as ex:
        raise SettingsError(f"cannot listen on {host}:{port}: {ex.strerror or ex}") from None
    return run_workers(host, port, workers, args.log_level)
