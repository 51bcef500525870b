"""Many slow streams on one worker: do they all complete, at what memory cost?

A slow upstream (its own process) answers every streamed Messages request
with one SSE event a second for --seconds seconds; --streams clients open
such streams through one ccbridge worker (SQLite, logging on), ramped over
a few seconds. Meanwhile short non-stream requests go through every 50 ms,
and their time to first byte is measured. Reported: streams completed, the
worker's peak RSS (VmHWM) and the short requests' TTFB p50/p99.

Everything runs on loopback, bounded in count (--streams) and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_proxy import MASTER, prepare  # noqa: E402
from harness import Children, cpu_plan, free_port, read_ready, wait_healthy  # noqa: E402

_EVENT = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"tick "}}\n\n'  # noqa: E501
_START = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message",'
    b'"role":"assistant","model":"claude-haiku-4-5","content":[],"stop_reason":null,'
    b'"usage":{"input_tokens":10,"output_tokens":1}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":""}}\n\n'
)
_END = (
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
    b'"usage":{"output_tokens":60}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)
_JSON = json.dumps(
    {
        "id": "msg_2",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 10, "output_tokens": 1},
    }
).encode()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --------------------------------------------------------------------------- upstream


async def _upstream(seconds: int) -> None:
    streams: list[tuple[asyncio.StreamWriter, list[int]]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                if b'"stream":true' not in body:
                    writer.write(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                        b"content-length: %d\r\n\r\n%s" % (len(_JSON), _JSON)
                    )
                    continue
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    b"transfer-encoding: chunked\r\n\r\n" + _chunk(_START)
                )
                left = [seconds]
                streams.append((writer, left))
                while left[0] > 0:
                    await asyncio.sleep(1)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def tick() -> None:
        while True:
            await asyncio.sleep(1)
            for writer, left in list(streams):
                left[0] -= 1
                writer.write(_chunk(_EVENT) if left[0] > 0 else _chunk(_END) + b"0\r\n\r\n")
            streams[:] = [(w, n) for w, n in streams if n[0] > 0]

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=8192)
    port = server.sockets[0].getsockname()[1]
    print(f"READY http://127.0.0.1:{port}", flush=True)
    ticker = asyncio.create_task(tick())
    await asyncio.sleep(seconds * 3 + 120)  # bounded: never outlives a run
    ticker.cancel()


# --------------------------------------------------------------------------- clients


def _request(port: int, stream: bool) -> bytes:
    body = json.dumps(
        {
            "model": "claude-haiku-4-5",
            "max_tokens": 8,
            "stream": stream,
            "messages": [{"role": "user", "content": "hi"}],
        },
        separators=(",", ":"),
    ).encode()
    return (
        b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1:%d\r\nx-api-key: %s\r\n"
        b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
        % (port, MASTER.encode(), len(body), body)
    )


async def _stream(port: int, done: list[int], seconds: int) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return
    try:
        writer.write(_request(port, True))
        data = b""
        async with asyncio.timeout(seconds + 60):
            while b"message_stop" not in data[-400:]:
                chunk = await reader.read(65536)
                if not chunk:
                    return
                data = data[-400:] + chunk
        done[0] += 1
    except (TimeoutError, OSError):
        pass
    finally:
        writer.close()


async def _short(port: int, ttfb: list[tuple[float, float]], stop: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = _request(port, False)
    while not stop.is_set():
        started = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        ttfb.append((time.monotonic(), time.perf_counter() - started))
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        await asyncio.sleep(0.05)
    writer.close()


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _drive(port: int, pid: int, streams: int, seconds: int, ramp: float) -> None:
    done = [0]
    ttfb: list[tuple[float, float]] = []
    stop = asyncio.Event()
    short = asyncio.create_task(_short(port, ttfb, stop))
    tasks = []
    started = time.monotonic()
    for i in range(streams):
        tasks.append(asyncio.create_task(_stream(port, done, seconds)))
        await asyncio.sleep(max(started + ramp * (i + 1) / streams - time.monotonic(), 0))
    opened = time.monotonic()
    await asyncio.gather(*tasks)
    stop.set()
    await short
    print(f"streams completed      {done[0]} / {streams} ({seconds} events each, 1/s)")
    print(f"worker peak RSS        {_peak_rss_mb(pid):.0f} MB")
    print(f"short requests TTFB    {_percentiles(t for _, t in ttfb)} (all)")
    print(f"  while streams open   {_percentiles(t for at, t in ttfb if at < opened)}")
    print(f"  all streams open     {_percentiles(t for at, t in ttfb if at >= opened)}")


def _percentiles(seconds: Iterable[float]) -> str:
    ms = sorted(t * 1000 for t in seconds)
    if not ms:
        return "no requests"
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms ({len(ms)} requests)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--streams", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds to open all streams")
    parser.add_argument("--role", choices=("bench", "upstream"), default="bench")
    args = parser.parse_args()
    _raise_nofile()
    if args.role == "upstream":
        asyncio.run(_upstream(args.seconds))
        return
    proxy_cpus, side_cpus = cpu_plan()
    children = Children()
    try:
        up = children.spawn(
            ["bench/bench_many_streams.py", "--role", "upstream", "--seconds", str(args.seconds)],
            side_cpus,
        )
        upstream = read_ready(up, timeout=15)
        with tempfile.TemporaryDirectory() as tmp:
            db_path = Path(tmp) / "cc-bridge.db"
            asyncio.run(prepare(db_path, upstream))
            port = free_port()
            env = {
                "PROXY_ACCESS_KEY": MASTER,
                "DATABASE_URL": str(db_path),
                "CCBRIDGE_DATA_DIR": tmp,
            }
            cmd = ["-m", "ccbridge", "serve", "--port", str(port), "--log-level", "warning"]
            proc = children.spawn(cmd, proxy_cpus, env)
            wait_healthy(port, proc, timeout=30)
            asyncio.run(_drive(port, proc.pid, args.streams, args.seconds, args.ramp))
    finally:
        children.stop_all()


if __name__ == "__main__":
    main()
