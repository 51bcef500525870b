"""`ccbridge serve` as a child process on loopback, for crash and signal tests."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

__all__ = ("free_port", "serve", "until_healthy")

_REPO = Path(__file__).resolve().parents[2]  # `-m ccbridge` imports from it


def free_port() -> int:
    """Return a loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(
    env: dict[str, str],
    port: int,
    *,
    stderr: int | None = subprocess.DEVNULL,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.Popen[bytes]:
    """Start `ccbridge serve` on a port with extra environment variables."""
    cmd = [sys.executable, "-m", "ccbridge", "serve", "--port", str(port), "--log-level", "error"]
    base = {k: v for k, v in os.environ.items() if k != "PROXY_ACCESS_KEY"}
    return subprocess.Popen(
        cmd, cwd=_REPO, env={**base, **env}, stderr=stderr, preexec_fn=preexec_fn
    )


async def until_healthy(port: int, timeout: float = 15.0) -> None:
    """Wait until /health answers 200."""
    async with httpx.AsyncClient(timeout=1) as http:
        for _ in range(int(timeout / 0.05)):
            try:
                if (await http.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("server did not start")
