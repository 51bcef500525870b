"""Chat Completions passthrough vs Messages passthrough, whole proxy, in one run.

Four ccbridge processes (SQLite, logging on): a messages-pool ``claude``
channel answered by a Messages upstream and a chat-pool ``openai`` channel
answered by a Chat Completions upstream, each once for whole JSON answers
and once for SSE streams (bench/fast_upstream.py: the same text in 44
deltas). Clients speak each pool's own API, so nothing is converted. In
interleaved rounds (each ratio is the median of its per-round ratios) it
measures:

  (a) non-stream req/s @32: chat passthrough / messages passthrough (>= 0.90)
  (b) SSE streams/s @32: chat passthrough / messages passthrough (>= 0.90)

The proxy under test is pinned to core 0, load generator and upstream to core 1.

    .venv/bin/python bench/bench_chat.py --duration 3 --rounds 5

Measured on the shared 2-core dev box (load average 7-10 from other suites,
so req/s swing widely; proxy CPU per request is the steadier figure), median
of 5 rounds [lowest, highest]:

  (a) non-stream: 1.25 [0.69, 2.35] by req/s, 1.04 [0.90, 1.22] by CPU
  (b) streams:    1.52 [0.67, 1.73] by req/s, 1.09 [0.92, 1.11] by CPU

Before the usage tap skipped Chat deltas after the first token unread, (b)
was 0.91 [0.49, 0.98] by req/s and 0.87 [0.72, 0.93] by CPU (and (a) 0.96).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_proxy import STREAM_BODY, Bench, _spread  # noqa: E402
from bench_upstream_client import REQUEST_BODY  # noqa: E402

# The Messages request of the other benchmarks, as a Chat Completions request.
_CHAT = json.loads(REQUEST_BODY)
CHAT_BODY = json.dumps(
    {"model": "gpt-4o", "max_tokens": _CHAT["max_tokens"], "messages": _CHAT["messages"]}
)
CHAT_STREAM_BODY = json.dumps(
    {**json.loads(CHAT_BODY), "stream": True, "stream_options": {"include_usage": True}}
)
# cell -> (upstream mode, service type, pool, request body)
CELLS = {
    "msg-json": ("messages-json", "claude", "messages", REQUEST_BODY),
    "chat-json": ("chat-json", "openai", "chat", CHAT_BODY),
    "msg-sse": ("messages-sse", "claude", "messages", STREAM_BODY),
    "chat-sse": ("chat-sse", "openai", "chat", CHAT_STREAM_BODY),
}


def run(args: argparse.Namespace) -> None:
    """Run the measurements and print the report."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        bench = Bench(args, Path(folder))
        try:
            servers = {
                cell: bench.start_ccbridge(
                    bench.upstream(mode), cell, service_type=service, pool=pool
                )
                for cell, (mode, service, pool, _) in CELLS.items()
            }
            for turn in range(args.rounds):
                for a, b in (("msg-json", "chat-json"), ("msg-sse", "chat-sse")):
                    for cell in (a, b) if turn % 2 == 0 else (b, a):
                        proc, url = servers[cell]
                        bench.measure(f"{cell}@32", url, 32, CELLS[cell][3], pid=proc.pid)
        finally:
            bench.children.stop_all()
    report(bench, time.monotonic() - started)


def report(bench: Bench, wall: float) -> None:
    """Print the figures and ratios."""
    b, p, args = bench.best, bench.paired, bench.args
    print(
        f"chat passthrough bench: {args.duration:g} s per cell, {args.rounds} rounds (best shown)"
    )
    for label in bench.results:
        print(
            f"  {label:<14} {b(label):>9,.0f} req/s   p50 {b(label, 'p50_ms'):6.2f} ms   "
            f"proxy CPU {b(label, 'cpu_us'):6.0f} us/req"
        )
    print(f"ratios: median of the {args.rounds} rounds [lowest, highest]")
    print(
        f"(a) non-stream @32 chat/messages = {_spread(p('chat-json@32', 'msg-json@32'))}"
        f" by req/s, {_spread(p('msg-json@32', 'chat-json@32', 'cpu_us'))} by CPU (>= 0.90)"
    )
    print(
        f"(b) streams/s @32 chat/messages = {_spread(p('chat-sse@32', 'msg-sse@32'))}"
        f" by req/s, {_spread(p('msg-sse@32', 'chat-sse@32', 'cpu_us'))} by CPU (>= 0.90)"
    )
    print(f"total wall time {wall:.0f} s")


def main() -> None:
    """Parse options and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
