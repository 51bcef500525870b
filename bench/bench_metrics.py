"""What the metrics and the access log cost the request path.

Two measurements:

  (a) micro: microseconds per `metrics.attempt` of a settled, streamed,
      priced record, with in-memory values (1 worker) and with
      prometheus_client's multiprocess files (``--workers N``);
  (b) end to end: ccbridge (SQLite, request logs on) behind bench/loadgen.py
      against bench/fast_upstream.py, in interleaved rounds of three
      configurations: everything on; metrics recording stubbed out; and
      metrics on with the access log off (LOG_LEVEL=warning). The ratios
      are medians of per-round throughput ratios, and CPU per request.

The proxy is pinned to core 0, load generator and upstream to core 1.

    .venv/bin/python bench/bench_metrics.py --rounds 3 --duration 4
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_proxy import HEADERS, MASTER, prepare  # noqa: E402
from bench_upstream_client import REQUEST_BODY  # noqa: E402
from harness import (  # noqa: E402
    Children,
    cpu_plan,
    cpu_seconds,
    free_port,
    load,
    read_ready,
    wait_healthy,
)

# Serves like `python -m ccbridge serve`, with the metrics calls stubbed out.
_NO_METRICS = (
    "import sys; import ccbridge.metrics as m\n"
    "for name in ('attempt', 'stream_opened', 'stream_closed', 'flushed', 'pool'):\n"
    "    setattr(m, name, lambda *a, **k: None)\n"
    "from ccbridge.cli import main; sys.argv[0] = 'ccbridge'; sys.exit(main())\n"
)


def micro(n: int) -> float:
    """Return microseconds per `metrics.attempt` in this process's mode."""
    from ccbridge import metrics  # noqa: PLC0415 (after the mode is chosen)
    from ccbridge.proxy.record import LogRecord  # noqa: PLC0415

    class _Ch:
        name, uid, index, service_type = "bench", "bench-uid", 0, "claude"

    record = LogRecord(
        model="claude-sonnet-4-5",
        stream=True,
        endpoint="/v1/messages",
        client_id="c",
        session_id="s",
        api_key_id=None,
    )
    record.attach(_Ch, "upstream")  # type: ignore[arg-type]
    record.input_tokens, record.output_tokens = 2095, 187
    record.cache_read_input_tokens = 20480
    record.price = 0.0123
    record.first_token_time = record.initial_time + timedelta(milliseconds=300)
    record.finish("completed", 200)
    for _ in range(1000):
        metrics.attempt(record)
    began = time.perf_counter()
    for _ in range(n):
        metrics.attempt(record)
    return (time.perf_counter() - began) / n * 1e6


def micro_in_child(multiproc: bool, n: int) -> float:
    env = {**os.environ}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with tempfile.TemporaryDirectory() as folder:
        if multiproc:
            env["PROMETHEUS_MULTIPROC_DIR"] = folder
        out = subprocess.run(
            [sys.executable, __file__, "--micro-child", str(n)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    return float(out.strip())


def end_to_end(args: argparse.Namespace, folder: Path) -> dict[str, list[dict[str, float]]]:
    children = Children()
    proxy_cpus, side_cpus = cpu_plan()
    results: dict[str, list[dict[str, float]]] = {}
    try:
        up_args = ["bench/fast_upstream.py", "--mode", "messages-json", "--max-seconds", "900"]
        upstream = read_ready(children.spawn(up_args, side_cpus), timeout=15)
        configs = {
            "metrics+access": (["-m", "ccbridge"], "info"),
            "no metrics": (["-c", _NO_METRICS], "info"),
            "metrics, no access": (["-m", "ccbridge"], "warning"),
        }
        procs = {}
        for name, (head, level) in configs.items():
            db_path = folder / name.replace(" ", "_").replace(",", "") / "cc-bridge.db"
            asyncio.run(prepare(db_path, upstream))
            port = free_port()
            env = {
                "PROXY_ACCESS_KEY": MASTER,
                "DATABASE_URL": str(db_path),
                "CCBRIDGE_DATA_DIR": str(db_path.parent),
                "LOG_LEVEL": level,
                "LOG_FORMAT": "json",
            }
            cmd = [*head, "serve", "--port", str(port), "--log-level", "warning"]
            proc = children.spawn(cmd, proxy_cpus, env)
            wait_healthy(port, proc, timeout=30)
            procs[name] = (proc, f"http://127.0.0.1:{port}/v1/messages")
        for _ in range(args.rounds):
            for name, (proc, url) in procs.items():
                before = cpu_seconds(proc.pid)
                result = load(
                    children,
                    url,
                    args.conns,
                    duration=args.duration,
                    warmup=1.0,
                    body=REQUEST_BODY,
                    headers=HEADERS,
                    cpus=side_cpus,
                )
                if result["errors"] or result["non_2xx"]:
                    raise RuntimeError(f"{name}: {result['errors']} errors")
                handled = result["requests"] + result["warmup_requests"]
                cpu = ((cpu_seconds(proc.pid) or 0) - (before or 0)) / max(handled, 1) * 1e6
                results.setdefault(name, []).append({"rps": result["rps"], "cpu_us": cpu})
    finally:
        children.stop_all()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--micro-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.micro_child:
        print(micro(args.micro_child))
        return
    single = micro_in_child(False, args.calls)
    multi = micro_in_child(True, args.calls)
    print(f"(a) metrics.attempt: {single:.1f} us/call in memory, {multi:.1f} us/call multiprocess")
    with tempfile.TemporaryDirectory() as folder:
        results = end_to_end(args, Path(folder))
    base = results["metrics+access"]
    print(f"(b) {args.conns} connections, {args.rounds} rounds of {args.duration:g} s:")
    for name, rows in results.items():
        ratio = statistics.median(b["rps"] / r["rps"] for b, r in zip(base, rows, strict=True))
        cpu = statistics.median(r["cpu_us"] for r in rows)
        best = max(r["rps"] for r in rows)
        print(
            f"    {name:<20} best {best:8.0f} req/s  cpu {cpu:6.0f} us/req  "
            f"all-on / this {ratio:.3f}"
        )


if __name__ == "__main__":
    main()
