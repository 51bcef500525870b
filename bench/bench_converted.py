"""Claude clients on converted channels vs passthrough, whole proxy, in one run.

Two ccbridge processes (SQLite, logging on), one with a ``claude`` channel
answered by a Messages upstream, one with an ``openai`` channel answered by a
Chat Completions upstream (bench/fast_upstream.py: the same text in 44 deltas,
both as JSON and as SSE). Clients always speak Messages. In interleaved rounds
(each ratio is the median of its per-round ratios) it measures:

  (a) SSE streams/s @32: converted Chat-SSE -> Messages-SSE / passthrough (>= 0.70)
  (b) non-stream req/s @32: converted / passthrough (>= 0.80)
  (c) time to first byte p50 of a stream @1: converted - passthrough (<= 1 ms)

The proxy under test is pinned to core 0, load generator and upstream to core 1.

    .venv/bin/python bench/bench_converted.py --duration 3 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_proxy import STREAM_BODY, Bench, _spread, _ttfb  # noqa: E402
from bench_upstream_client import REQUEST_BODY  # noqa: E402


def run(args: argparse.Namespace) -> None:
    """Run the measurements and print the report."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        bench = Bench(args, Path(folder))
        try:
            ups = {
                mode: bench.upstream(mode)
                for mode in ("messages-json", "messages-sse", "chat-json", "chat-sse")
            }
            servers = {
                "pass-json": bench.start_ccbridge(ups["messages-json"], "pj"),
                "conv-json": bench.start_ccbridge(ups["chat-json"], "cj", service_type="openai"),
                "pass-sse": bench.start_ccbridge(ups["messages-sse"], "ps"),
                "conv-sse": bench.start_ccbridge(ups["chat-sse"], "cs", service_type="openai"),
            }
            ttfb: dict[str, list[float]] = {"pass-sse": [], "conv-sse": []}
            for turn in range(args.rounds):
                pairs = [("pass-json", "conv-json"), ("pass-sse", "conv-sse")]
                for a, b in pairs:
                    order = (a, b) if turn % 2 == 0 else (b, a)
                    for name in order:
                        proc, url = servers[name]
                        body = STREAM_BODY if name.endswith("sse") else REQUEST_BODY
                        bench.measure(f"{name}@32", url, 32, body, pid=proc.pid)
                for name in ("pass-sse", "conv-sse") if turn % 2 == 0 else ("conv-sse", "pass-sse"):
                    ttfb[name].append(asyncio.run(_ttfb(servers[name][1], STREAM_BODY, 200)))
        finally:
            bench.children.stop_all()
    report(bench, ttfb, time.monotonic() - started)


def report(bench: Bench, ttfb: dict[str, list[float]], wall: float) -> None:
    """Print the figures and ratios."""
    b, p, args = bench.best, bench.paired, bench.args
    print(f"converted bench: {args.duration:g} s per cell, {args.rounds} rounds (best shown)")
    for label in bench.results:
        print(
            f"  {label:<14} {b(label):>9,.0f} req/s   p50 {b(label, 'p50_ms'):6.2f} ms   "
            f"proxy CPU {b(label, 'cpu_us'):6.0f} us/req"
        )
    added = [c - s for c, s in zip(ttfb["conv-sse"], ttfb["pass-sse"], strict=True)]
    print(f"ratios: median of the {args.rounds} rounds [lowest, highest]")
    print(
        f"(a) streams/s @32 converted/passthrough = {_spread(p('conv-sse@32', 'pass-sse@32'))}"
        f" by req/s, {_spread(p('pass-sse@32', 'conv-sse@32', 'cpu_us'))} by CPU (>= 0.70)"
    )
    print(
        f"(b) non-stream @32 converted/passthrough = {_spread(p('conv-json@32', 'pass-json@32'))}"
        f" by req/s, {_spread(p('pass-json@32', 'conv-json@32', 'cpu_us'))} by CPU (>= 0.80)"
    )
    print(
        f"(c) stream TTFB p50 @1: converted {statistics.median(ttfb['conv-sse']):.2f} ms, "
        f"passthrough {statistics.median(ttfb['pass-sse']):.2f} ms, added "
        f"{statistics.median(added):.2f} ms [{min(added):.2f}, {max(added):.2f}] (<= 1 ms)"
    )
    print(f"total wall time {wall:.0f} s")


def main() -> None:
    """Parse options and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=2)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
