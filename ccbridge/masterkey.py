"""The master key of a first start without PROXY_ACCESS_KEY.

Without a master key every call would be refused (401) and nobody could
configure the gateway. So a first start generates a strong one, keeps it
in the data directory readable by its owner only (0600), and prints it
once with where it is kept; later starts reuse it. PROXY_ACCESS_KEY, when
set, always wins.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import sys
from pathlib import Path

from ccbridge.settings import Settings

__all__ = ("KEY_FILE", "ensure_master_key")

KEY_FILE = "master.key"


def ensure_master_key(settings: Settings) -> Settings:
    """Return settings with a master key: the variable's, or the kept one."""
    if settings.proxy_access_key:
        return settings
    path = settings.data_dir / KEY_FILE
    key = _read(path)
    if key is None:
        key = _create(path)
        print(
            f"ccbridge: no PROXY_ACCESS_KEY set; generated a master key (shown once): {key}\n"
            f"ccbridge: it is kept in {path} (readable by this user only); "
            "set PROXY_ACCESS_KEY to use a key of your own",
            file=sys.stderr,
            flush=True,
        )
    # Worker processes build their settings from the environment.
    os.environ["PROXY_ACCESS_KEY"] = key
    return dataclasses.replace(settings, proxy_access_key=key)


def _read(path: Path) -> str | None:
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        return None
    os.chmod(path, 0o600)  # whoever loosened it: the key is a secret
    return key or None


def _create(path: Path) -> str:
    key = "ccb-" + secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return key
