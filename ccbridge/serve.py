"""`ccbridge serve`: run the proxy on uvicorn, in one or several processes.

Several workers (`--workers N` or WORKERS) are separate processes sharing
the database exactly as separate instances would: each opens its own
connections, runs its own writer and reloads config by revision. On Linux
each listens on a socket of its own (`ccbridge.workers`).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import signal

import uvicorn

from ccbridge import metrics
from ccbridge.app import create_app
from ccbridge.db.sqlite import prepare_path
from ccbridge.errors import SettingsError
from ccbridge.masterkey import ensure_master_key
from ccbridge.settings import Settings
from ccbridge.workers import (
    GracefulServer,
    check_port_free,
    forwarding_options,
    reuse_port_supported,
    run_workers,
)

__all__ = ("add_serve_arguments", "check_serving", "check_storage", "run_serve")

_INSECURE_DEFAULT = "your-proxy-access-key"
_MIN_KEY_LENGTH = 16


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the serve options (each overrides its environment variable)."""
    parser.add_argument("--host", help="address to listen on (HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (PORT, default 3000)")
    parser.add_argument("--workers", type=int, help="worker processes (WORKERS, default 1)")
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        help="ccbridge's and uvicorn's log level (LOG_LEVEL, default info)",
    )


def check_storage(settings: Settings) -> None:
    """Refuse an unusable SQLite path before anything is written next to it.

    Checked before uvicorn starts (and before a master key is generated into
    the data directory), so a bad path fails in one line, not a traceback.
    """
    if settings.database_type == "sqlite" and str(settings.sqlite_path) != ":memory:":
        prepare_path(settings.sqlite_path, settings.sqlite_origin)


def check_serving(settings: Settings) -> None:
    """Refuse settings that must not serve traffic."""
    key = settings.proxy_access_key
    if key and key == _INSECURE_DEFAULT:
        raise SettingsError("PROXY_ACCESS_KEY is the example value; set a secret of your own")
    if key and len(key) < _MIN_KEY_LENGTH:
        raise SettingsError(
            f"PROXY_ACCESS_KEY must be at least {_MIN_KEY_LENGTH} characters (got {len(key)})"
        )


_WANTED_OPEN_FILES = 65_536


def raise_open_file_limit() -> int:
    """Raise the soft open-file limit toward the hard one; return the new soft limit.

    Each relayed stream holds two sockets (client, upstream); the usual
    default of 1,024 would refuse connections at about 500 streams.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = _WANTED_OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, _WANTED_OPEN_FILES)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        return wanted
    return soft


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until interrupted; return the exit status."""
    check_storage(settings)
    settings = ensure_master_key(settings)
    if args.log_level:  # the flag wins over LOG_LEVEL, in the workers too
        settings = dataclasses.replace(settings, log_level=args.log_level)
        os.environ["LOG_LEVEL"] = args.log_level
    check_serving(settings)
    raise_open_file_limit()
    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    if workers < 1:
        raise SettingsError("--workers must be at least 1")
    common = {
        "host": host,
        "port": port,
        "log_level": settings.log_level,
        "access_log": False,
        "lifespan": "on",
        **forwarding_options(settings.trusted_proxies),
    }
    if workers == 1:
        config = uvicorn.Config(
            create_app(settings, serving=True),
            **common,
            timeout_graceful_shutdown=settings.shutdown_grace_s,
        )
        server = GracefulServer(config)
        # uvicorn raises a captured SIGTERM again once it shut down; a clean
        # drain is then exit status 0, not death by signal.
        signal.signal(signal.SIGTERM, lambda *_: None)
        server.run()
        return 0 if server.started else 1
    # Worker processes build their app from the environment: pass the overrides on.
    os.environ.update({"HOST": host, "PORT": str(port), "WORKERS": str(workers)})
    if not reuse_port_supported():  # one shared socket: balance left to chance
        run_dir = metrics.make_run_dir()
        try:
            uvicorn.run("ccbridge.app:factory", factory=True, workers=workers, **common)
        finally:
            metrics.remove_run_dir(run_dir)
        return 0
    try:
        check_port_free(host, port)  # fail once, here, if the port is taken
    except OSError as ex:
        raise SettingsError(f"cannot listen on {host}:{port}: {ex.strerror or ex}") from None
    # The workers share their metrics through files in a directory of this run.
    run_dir = metrics.make_run_dir()
    try:
        return run_workers(host, port, workers, str(common["log_level"]))
    finally:
        metrics.remove_run_dir(run_dir)
