"""`ccbridge serve --workers 2` as a real process tree (Linux: SO_REUSEPORT)."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccbridge.workers import reuse_port_supported

pytestmark = pytest.mark.skipif(not reuse_port_supported(), reason="needs Linux SO_REUSEPORT")

MASTER = "workers-test-master-key-0123"
_LISTEN, _ESTABLISHED = "0A", "01"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(
    folder: Path, port: int, database_url: str, *, session: bool = False
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PROXY_ACCESS_KEY": MASTER,
        "DATABASE_TYPE": "sqlite",
        "DATABASE_URL": database_url,
        "CCBRIDGE_DATA_DIR": str(folder),
    }
    cmd = [sys.executable, "-m", "ccbridge", "serve", "--workers", "2", "--port", str(port)]
    cwd = Path(__file__).resolve().parents[2]  # the repository: `-m ccbridge` imports from it
    return subprocess.Popen(
        [*cmd, "--log-level", "warning"],
        cwd=cwd,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=session,  # a process group of its own, as in a terminal
    )


def _health(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except OSError:
        return False


def _eventually(check: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # Multiprocessing's resource tracker is a child too; workers run ccbridge.
            if int(stat[1]) == pid and b"resource_tracker" not in _cmdline(int(entry)):
                found.append(int(entry))
    return sorted(found)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _sockets(port: int, state: str) -> set[int]:
    """Return the inodes of IPv4 TCP sockets with this local port and state."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == state:
            inodes.add(int(fields[9]))
    return inodes


def _owned(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = _free_port()
    proc = _serve(tmp_path, port, str(tmp_path / "cc-bridge.db"))
    try:
        _eventually(lambda: len(_sockets(port, _LISTEN)) == 2 and _health(port))
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)


def test_each_worker_listens_on_its_own_socket_and_gets_connections(
    served: tuple[subprocess.Popen[str], int],
) -> None:
    proc, port = served
    workers = _children(proc.pid)
    listening = _sockets(port, _LISTEN)
    assert len(listening) == 2
    assert all(_owned(pid) & listening for pid in workers)

    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=5) for _ in range(24)]
    for conn in conns:  # kept open: each stays with the worker that accepted it
        conn.request("GET", "/health")
        assert conn.getresponse().read()
    accepted = _sockets(port, _ESTABLISHED)
    # 24 connections by address hash: all on one worker has odds of 2 in 2**24.
    assert all(_owned(pid) & accepted for pid in workers)
    for conn in conns:
        conn.close()


def test_a_dead_worker_is_replaced_and_sigterm_stops_all(
    served: tuple[subprocess.Popen[str], int],
) -> None:
    proc, port = served
    first, second = _children(proc.pid)
    os.kill(first, signal.SIGKILL)
    _eventually(lambda: len(_children(proc.pid)) == 2 and first not in _children(proc.pid))
    _eventually(lambda: len(_sockets(port, _LISTEN)) == 2)
    assert _health(port)

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    assert not _children(proc.pid) and not Path(f"/proc/{second}").exists()


def test_a_second_server_on_the_port_is_refused_not_joined(
    served: tuple[subprocess.Popen[str], int], tmp_path: Path
) -> None:
    _, port = served
    second = _serve(tmp_path / "second", port, str(tmp_path / "second.db"))
    assert second.wait(60) == 2
    assert second.stderr is not None
    assert f"cannot listen on 127.0.0.1:{port}" in second.stderr.read()
    assert len(_sockets(port, _LISTEN)) == 2


def test_workers_of_a_killed_parent_stop(served: tuple[subprocess.Popen[str], int]) -> None:
    proc, port = served
    workers = _children(proc.pid)
    proc.kill()
    proc.wait(10)
    _eventually(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers))
    assert not _sockets(port, _LISTEN)


def test_a_hangup_of_the_group_lets_every_worker_drain(tmp_path: Path) -> None:
    port = _free_port()
    proc = _serve(tmp_path, port, str(tmp_path / "cc-bridge.db"), session=True)
    try:
        _eventually(lambda: len(_sockets(port, _LISTEN)) == 2 and _health(port))
        os.killpg(proc.pid, signal.SIGHUP)  # a closed terminal: parent and workers
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.stderr is not None
    assert "did not shut down cleanly" not in proc.stderr.read()


def test_a_worker_that_cannot_start_stops_the_server(tmp_path: Path) -> None:
    # Not a database: only a worker opening it finds out (an unusable path
    # is refused by serve itself before any worker starts).
    broken = tmp_path / "cc-bridge.db"
    broken.write_bytes(b"not an SQLite database " * 200)
    proc = _serve(tmp_path, _free_port(), str(broken))
    try:
        assert proc.wait(60) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.stderr is not None
    assert "failed to start" in proc.stderr.read()


def test_a_taken_port_is_refused_before_any_worker_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = _serve(tmp_path, taken.getsockname()[1], str(tmp_path / "cc-bridge.db"))
        assert proc.wait(60) == 2
    assert proc.stderr is not None
    assert "cannot listen on 127.0.0.1:" in proc.stderr.read()


def test_an_unusable_database_path_is_refused_before_any_worker_starts(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    proc = _serve(tmp_path, _free_port(), str(blocker / "cc-bridge.db"))
    assert proc.wait(60) == 2
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert err == (
        f"ccbridge serve: SQLite database {blocker / 'cc-bridge.db'} (from DATABASE_URL): "
        f"cannot create its directory ({blocker} is not a directory)\n"
    )
