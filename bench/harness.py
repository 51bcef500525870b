"""Process plumbing shared by the benchmarks: children, ports, load.

Every role of a benchmark (fake upstream, proxy, load generator) is its own
process; on a machine with two cores the proxy gets core 0 and the load
generator and upstream core 1, so the proxy has one full core to itself.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = (
    "ROOT",
    "Children",
    "cpu_plan",
    "cpu_seconds",
    "free_port",
    "load",
    "read_ready",
    "wait_healthy",
)

ROOT = Path(__file__).resolve().parent.parent


def cpu_seconds(pid: int) -> float | None:
    """Return user+system CPU seconds of a process (Linux), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Children:
    """Child processes, all terminated on exit."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[str]] = []

    def spawn(
        self, args: Sequence[str], cpus: set[int] | None, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[str]:
        """Start `python args…`, pinned to cpus, with extra environment."""
        proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        )
        self._procs.append(proc)
        if cpus:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(proc.pid, cpus)
        return proc

    def stop(self, proc: subprocess.Popen[str]) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def stop_all(self) -> None:
        for proc in reversed(self._procs):
            self.stop(proc)


def cpu_plan() -> tuple[set[int] | None, set[int] | None]:
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) < 2:
        return None, None
    return {cpus[0]}, {cpus[1]}


def read_ready(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("READY "):
        raise RuntimeError(f"fake upstream did not start: {line!r}")
    return line.split()[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(port: int, proc: subprocess.Popen[str], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"proxy exited early with code {proc.returncode}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
        finally:
            conn.close()
    raise RuntimeError("proxy did not become healthy")


def wait_listening(port: int, count: int, timeout: float = 30.0) -> None:
    """Wait until count sockets listen on the loopback port (SO_REUSEPORT workers)."""
    deadline = time.monotonic() + timeout
    while _listening(port) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} listeners on port {port} expected")
        time.sleep(0.1)


def _listening(port: int) -> int:
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    fields = (line.split() for line in lines)
    return sum(1 for f in fields if int(f[1].split(":")[1], 16) == port and f[3] == "0A")


def load(
    children: Children,
    url: str,
    concurrency: int,
    *,
    duration: float,
    warmup: float,
    body: str,
    headers: Mapping[str, str],
    cpus: set[int] | None,
) -> dict[str, Any]:
    """Run bench/loadgen.py against url in its own process; return its JSON."""
    cmd = ["bench/loadgen.py", url, "-c", str(concurrency), "-d", str(duration)]
    cmd += ["--warmup", str(warmup), "--body", body, "--json"]
    cmd += [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    proc = children.spawn(cmd, cpus)
    try:
        out, _ = proc.communicate(timeout=duration + warmup + 30)
    finally:
        children.stop(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"loadgen failed with code {proc.returncode}")
    return json.loads(out)
