"""`ccbridge serve --workers N`: N processes on one port, balanced by the kernel.

uvicorn's own workers share one listening socket, and the worker that wakes
first accepts every connection waiting. Clients keep their connections
alive, so one worker could serve a burst of them all while the other idled
(measured: 2 workers at the throughput of one in some benchmark rounds).
Here each worker listens on a socket of its own with SO_REUSEPORT, and the
kernel spreads new connections over them by address hash.

The parent only supervises: it replaces a worker that dies after it
started, stops everything when one fails at startup, and on SIGINT,
SIGTERM or SIGHUP stops the workers (each drains its writer) before it
exits, with status 1 if one did not shut down cleanly. A worker whose
parent is gone (killed) shuts itself down.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as EventType
from typing import Any

import uvicorn

from ccbridge import metrics

__all__ = (
    "GracefulServer",
    "check_port_free",
    "forwarding_options",
    "listen_socket",
    "reuse_port_supported",
    "run_workers",
)

_STARTUP_FAILURE = 3  # uvicorn's exit code for a server that never started
_STOP_TIMEOUT = 80.0  # a worker's grace period (30 s) plus its writer's drain (30 s)


def reuse_port_supported() -> bool:
    """Return whether the kernel balances SO_REUSEPORT listeners (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def listen_socket(host: str, port: int, *, shared: bool = True) -> socket.socket:
    """Return a socket bound to host:port; `shared`: other workers may bind it too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def check_port_free(host: str, port: int) -> None:
    """Raise OSError if anything listens on host:port.

    Binds without SO_REUSEPORT: a socket with it would join another
    ccbridge's workers on that port and split its traffic, silently.
    """
    listen_socket(host, port, shared=False).close()


def forwarding_options(trusted_proxies: tuple[str, ...]) -> dict[str, Any]:
    """Return uvicorn's options for X-Forwarded-For: believed from these only.

    uvicorn believes it from 127.0.0.1 by default: anything on the host
    could then pick its client address, e.g. to dodge the auth-failure
    block by rotating the header.
    """
    if not trusted_proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": ",".join(trusted_proxies)}


class GracefulServer(uvicorn.Server):
    """uvicorn's server that lets the app end its endless streams on shutdown.

    uvicorn waits for every open response before the lifespan shutdown; a
    live log stream never ends by itself, so the app is told first
    (``begin_shutdown``). Proxied requests get the graceful-shutdown timeout.
    """

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Tell the app, then shut down as uvicorn does."""
        begin = getattr(self.config.app, "begin_shutdown", None)
        if begin is not None:
            begin()
        await super().shutdown(sockets)


class _Server(GracefulServer):
    """uvicorn's server, telling the parent once it serves and once it shut down cleanly."""

    def __init__(self, config: uvicorn.Config, ready: EventType, stopped: EventType) -> None:
        super().__init__(config)
        self._ready = ready
        self._stopped = stopped

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start serving, then say so."""
        await super().startup(sockets)
        if self.started:
            self._ready.set()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Shut down (the app's lifespan drains its writer), then say if that went well."""
        await super().shutdown(sockets)
        if not self.force_exit and not getattr(self.lifespan, "shutdown_failed", False):
            self._stopped.set()


def _worker(host: str, port: int, log_level: str, ready: EventType, stopped: EventType) -> None:
    """Serve the app built from the environment on a socket of our own."""
    from ccbridge.app import factory  # noqa: PLC0415  (in the child only)

    # A closed terminal hangs up the whole process group: the parent then
    # stops the workers with SIGTERM, which drains their writers.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    sock = listen_socket(host, port)
    app = factory()
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        host=host,
        port=port,
        timeout_graceful_shutdown=app.settings.shutdown_grace_s,
        **forwarding_options(app.settings.trusted_proxies),
    )
    server = _Server(config, ready, stopped)
    threading.Thread(target=_stop_when_orphaned, args=(server,), daemon=True).start()
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(_STARTUP_FAILURE)


def _stop_when_orphaned(server: uvicorn.Server) -> None:
    """Shut the worker down gracefully once its parent is gone (e.g. killed)."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(1.0)
    server.should_exit = True


@dataclass
class _Worker:
    process: BaseProcess
    ready: EventType
    stopped: EventType

    def failed_to_start(self) -> bool:
        """Return whether the (dead) worker never served: restarting would not help."""
        return not self.ready.is_set()


def run_workers(host: str, port: int, workers: int, log_level: str) -> int:
    """Run workers until SIGINT, SIGTERM or SIGHUP; return the exit status."""
    ctx = multiprocessing.get_context("spawn")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())

    def start() -> _Worker:
        ready, stopped = ctx.Event(), ctx.Event()
        process = ctx.Process(target=_worker, args=(host, port, log_level, ready, stopped))
        process.start()
        return _Worker(process, ready, stopped)

    pool = [start() for _ in range(workers)]
    failed = False
    try:
        while not stop.wait(0.5):
            for i, worker in enumerate(pool):
                proc = worker.process
                if proc.is_alive() or stop.is_set():
                    continue
                if worker.failed_to_start():
                    _say(f"worker {proc.pid} failed to start (exit code {proc.exitcode}); stopping")
                    failed = True
                    stop.set()
                    break
                _say(f"worker {proc.pid} exited (exit code {proc.exitcode}); starting another")
                if proc.pid is not None:
                    metrics.process_dead(proc.pid)  # its live gauges go; its counts stay
                pool[i] = start()
    finally:
        clean = _stop_all(pool)
    return 0 if clean and not failed else 1


def _stop_all(pool: list[_Worker]) -> bool:
    """Stop the workers; return whether each that served shut down cleanly."""
    for worker in pool:
        if worker.process.is_alive():
            worker.process.terminate()  # SIGTERM: uvicorn shuts down gracefully
    deadline = time.monotonic() + _STOP_TIMEOUT
    clean = True
    for worker in pool:
        proc = worker.process
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            _say(f"worker {proc.pid} did not stop in time; killing it")
            proc.kill()
            proc.join()
        if worker.ready.is_set() and not worker.stopped.is_set():
            _say(f"worker {proc.pid} did not shut down cleanly (exit code {proc.exitcode})")
            clean = False
    return clean


def _say(message: str) -> None:
    print(f"ccbridge: {message}", file=sys.stderr, flush=True)
