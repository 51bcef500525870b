"""Prometheus metrics: one registry of counters, histograms and gauges.

Everything records from where its data already is, with one call: the
relay hands each log record here when it is settled (`attempt`), the
writer its queue depth and flush time, the reloader its reloads, the
breaker and suspensions their openings. Nothing here touches the database.

Several workers (`ccbridge serve --workers N`) are separate processes and a
scrape reaches one of them, so the counts must be shared: prometheus_client's
multiprocess mode, with a directory made for each run by the supervisor
(`PROMETHEUS_MULTIPROC_DIR`, set before the workers start). Each process
writes its values to memory-mapped files there and a scrape sums them; the
files of a worker that dies stay, so its counts are never lost (its live
gauges are dropped by `process_dead`). Chosen over per-worker aggregation
because a scrape then needs no call to the other workers, and a worker's
counts survive its replacement. In one process the default registry serves.

PERF(metrics): the request path pays one `attempt` call per settled log
record (bench/bench_metrics.py measures it).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any, Final, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _mp

__all__ = (
    "CONTENT_TYPE",
    "MULTIPROC_ENV",
    "attempt",
    "breaker_opened",
    "config_loaded",
    "flushed",
    "make_run_dir",
    "pool",
    "process_dead",
    "remove_run_dir",
    "render",
    "stream_closed",
    "stream_opened",
    "suspended",
)

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE: Final = CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_FLUSH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)

REQUESTS = Counter(
    "ccbridge_requests",
    "Upstream attempts settled, by endpoint, channel, model, HTTP status and outcome",
    ("endpoint", "channel", "model", "status", "outcome"),
)
LATENCY = Histogram(
    "ccbridge_request_duration_seconds",
    "Duration of settled attempts (retry waits excluded)",
    ("endpoint", "channel"),
    buckets=_LATENCY_BUCKETS,
)
TTFB = Histogram(
    "ccbridge_time_to_first_token_seconds",
    "Time from the start of an attempt to its first token",
    ("endpoint", "channel"),
    buckets=_LATENCY_BUCKETS,
)
TOKENS = Counter(
    "ccbridge_tokens",
    "Tokens of settled attempts, by kind (input, output, cache_creation, cache_read)",
    ("channel", "model", "kind"),
)
COST = Counter("ccbridge_cost_usd", "Cost of settled attempts in USD", ("channel", "model"))
FAILOVERS = Counter("ccbridge_failovers", "Attempts that failed over", ("channel",))
RETRIES = Counter("ccbridge_retries", "Attempts retried on the same key", ("channel",))
BREAKER_OPENS = Counter(
    "ccbridge_breaker_opens", "Circuit breaker openings, by channel uid", ("channel",)
)
SUSPENSIONS = Counter("ccbridge_suspensions", "Channel suspensions", ("channel",))
OPEN_STREAMS = Gauge(
    "ccbridge_open_streams", "Streams being relayed to clients", multiprocess_mode="livesum"
)
WRITER_QUEUE = Gauge(
    "ccbridge_writer_queue_depth",
    "Items waiting for the writer's next flush",
    multiprocess_mode="livesum",
)
FLUSH = Histogram(
    "ccbridge_writer_flush_seconds", "Duration of the writer's flushes", buckets=_FLUSH_BUCKETS
)
FLUSH_FAILURES = Counter("ccbridge_writer_flush_failures", "Failed writer flushes")
POOL_IN_USE = Gauge(
    "ccbridge_db_pool_in_use",
    "PostgreSQL pool connections in use",
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "ccbridge_db_pool_waiting",
    "Requests waiting for a PostgreSQL pool connection",
    multiprocess_mode="livesum",
)
REVISION = Gauge("ccbridge_config_revision", "Config revision loaded", multiprocess_mode="max")
RELOADS = Counter("ccbridge_config_reloads", "Config reloads after a revision change")

_OUTCOME_COUNTER = {"failover": FAILOVERS, "retry_wait": RETRIES}


class Attempt(Protocol):
    """What `attempt` reads of a settled log record (`ccbridge.proxy.record`)."""

    status: str
    http_status: int
    endpoint: str
    model: str
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    price: float
    initial_time: Any
    first_token_time: Any

    @property
    def channel(self) -> Any: ...

    @property
    def duration_ms(self) -> int: ...


class _Series:
    """The labelled children one kind of attempt updates, looked up once."""

    __slots__ = ("cost", "latency", "outcome", "requests", "tokens", "ttfb")

    def __init__(self, endpoint: str, channel: str, model: str, http: int, status: str) -> None:
        self.requests = REQUESTS.labels(endpoint, channel, model, str(http), status)
        self.latency = LATENCY.labels(endpoint, channel)
        self.ttfb = TTFB.labels(endpoint, channel)
        counter = _OUTCOME_COUNTER.get(status)
        self.outcome = counter.labels(channel) if counter is not None else None
        self.tokens = tuple(
            TOKENS.labels(channel, model, kind)
            for kind in ("input", "output", "cache_creation", "cache_read")
        )
        self.cost = COST.labels(channel, model)


# PERF(metrics): `labels()` costs microseconds a call; the children of each
# (endpoint, channel, model, status, outcome) are looked up once.
_series: dict[tuple[str, str, str, int, str], _Series] = {}


def attempt(record: Attempt) -> None:
    """Count one log record that left the pending state."""
    status = record.status
    if status == "pending":
        return
    ch = record.channel
    key = (
        record.endpoint,
        ch.name if ch is not None else "",
        record.model,
        record.http_status,
        status,
    )
    series = _series.get(key)
    if series is None:
        series = _series[key] = _Series(*key)
    series.requests.inc()
    series.latency.observe(record.duration_ms / 1000)
    if record.first_token_time is not None:
        ttfb = (record.first_token_time - record.initial_time).total_seconds()
        series.ttfb.observe(max(ttfb, 0.0))
    if series.outcome is not None:
        series.outcome.inc()
    tokens = series.tokens
    if record.input_tokens:
        tokens[0].inc(record.input_tokens)
    if record.output_tokens:
        tokens[1].inc(record.output_tokens)
    if record.cache_creation_input_tokens:
        tokens[2].inc(record.cache_creation_input_tokens)
    if record.cache_read_input_tokens:
        tokens[3].inc(record.cache_read_input_tokens)
    if record.price:
        series.cost.inc(record.price)


def stream_opened() -> None:
    """A relayed stream started."""
    OPEN_STREAMS.inc()


def stream_closed() -> None:
    """A relayed stream ended."""
    OPEN_STREAMS.dec()


def flushed(seconds: float, queued: int, *, failed: bool = False) -> None:
    """A writer flush took `seconds`; `queued` items wait now."""
    FLUSH.observe(seconds)
    WRITER_QUEUE.set(queued)
    if failed:
        FLUSH_FAILURES.inc()


def pool(in_use: int, waiting: int) -> None:
    """The PostgreSQL pool's connections in use and requests waiting."""
    POOL_IN_USE.set(in_use)
    POOL_WAITING.set(waiting)


def config_loaded(revision: int, *, reload: bool) -> None:
    """A config revision is loaded (`reload`: after a change, not at startup)."""
    REVISION.set(revision)
    if reload:
        RELOADS.inc()


def breaker_opened(channel_uid: str) -> None:
    """The circuit breaker opened for a channel."""
    BREAKER_OPENS.labels(channel_uid).inc()


def suspended(channel: str) -> None:
    """A channel was suspended."""
    SUSPENSIONS.labels(channel).inc()


def render() -> bytes:
    """Return every metric in the Prometheus text format (all workers' in multiprocess)."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        _mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def make_run_dir() -> str:
    """Create the directory of one multiprocess run and name it in the environment.

    Call before the metrics of any process are created: the workers
    (spawned) inherit the variable and write their files there.
    """
    path = tempfile.mkdtemp(prefix="ccbridge-metrics-")
    os.environ[MULTIPROC_ENV] = path
    return path


def process_dead(pid: int) -> None:
    """Drop the live gauges of a worker that exited."""
    if os.environ.get(MULTIPROC_ENV):
        _mp.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def remove_run_dir(path: str) -> None:
    """Remove a run's directory once every worker stopped."""
    shutil.rmtree(path, ignore_errors=True)
