"""The request-log record of one upstream attempt (spec §3.10).

Mutable while the attempt runs; the writer turns its latest state into a
request_logs row at flush time, so the request path builds no row at all.
"""

from __future__ import annotations

import itertools
import random
import time
from datetime import UTC, datetime
from typing import Final

from ccbridge.proxy.pricing import PricedCost
from ccbridge.proxy.usage import Usage
from ccbridge.store.snapshot import Channel
from generated.rows import RequestLogsRow

__all__ = ("PRICED", "UNPRICED", "LogRecord", "new_log_id")

PRICED: Final = "pricing"  # request_logs.price_source: a model_pricing row priced it
UNPRICED: Final = "unknown"  # no price for the model: logged at cost 0


# A counter from a random start: ids stay unique within a process whatever the
# clock does, and across instances sharing a database unless two of them hit
# the same nanosecond with the same tail.
_tails = itertools.count(random.getrandbits(16))


def new_log_id() -> str:
    """Return a unique log id: ``req_<unix nanos><4 hex>``."""
    return f"req_{time.time_ns()}{next(_tails) & 0xFFFF:04x}"


class LogRecord:
    """One attempt's log state; `to_row` renders it for the writer."""

    fresh = True  # its id is minted here (see `ccbridge.store.writer.LogSource`)

    __slots__ = (
        "api_key_id",
        "cache_creation_cost",
        "cache_creation_input_tokens",
        "cache_read_cost",
        "cache_read_input_tokens",
        "channel",
        "client_id",
        "complete_time",
        "domain",
        "endpoint",
        "error",
        "failover_info",
        "first_token_time",
        "http_status",
        "id",
        "initial_time",
        "input_cost",
        "input_tokens",
        "model",
        "output_cost",
        "output_tokens",
        "price",
        "price_source",
        "priced_by_target_model",
        "reasoning_effort",
        "request_id",
        "response_model",
        "routed_via",
        "service_tier",
        "session_id",
        "status",
        "stream",
        "transport",
        "upstream_error",
        "wait_excluded",
        "written",
    )

    def __init__(
        self,
        *,
        model: str,
        stream: bool,
        endpoint: str,
        client_id: str,
        session_id: str,
        api_key_id: int | None,
        reasoning_effort: str = "",
    ) -> None:
        self.id = new_log_id()
        self.initial_time = datetime.now(UTC)
        self.wait_excluded = 0.0
        self.status = "pending"
        self.model = model
        self.stream = stream
        self.endpoint = endpoint
        self.client_id = client_id
        self.session_id = session_id
        self.api_key_id = api_key_id
        self.reasoning_effort = reasoning_effort
        self.channel: Channel | None = None
        self.domain = ""
        self.complete_time: datetime | None = None
        self.first_token_time: datetime | None = None
        self.http_status = 0
        self.response_model = ""
        self.error = ""
        self.upstream_error = ""
        self.failover_info = ""
        self.service_tier = ""
        self.priced_by_target_model = False
        self.price_source = ""  # pricing | unknown (no price: cost 0), once settled
        self.routed_via = ""  # the composite channel (uid) that routed it here
        self.request_id = ""  # the client request's x-request-id
        self.transport = ""  # "ws" for a WebSocket turn; else from `stream`
        self.input_tokens = self.output_tokens = 0
        self.cache_creation_input_tokens = self.cache_read_input_tokens = 0
        self.price = self.input_cost = self.output_cost = 0.0
        self.cache_creation_cost = self.cache_read_cost = 0.0
        self.written: RequestLogsRow | None = None  # set by the writer

    def next_attempt(self) -> LogRecord:
        """Return a fresh pending record for the next attempt."""
        record = LogRecord(
            model=self.model,
            stream=self.stream,
            endpoint=self.endpoint,
            client_id=self.client_id,
            session_id=self.session_id,
            api_key_id=self.api_key_id,
            reasoning_effort=self.reasoning_effort,
        )
        record.routed_via = self.routed_via
        record.request_id = self.request_id
        record.transport = self.transport
        return record

    def attach(self, channel: Channel, domain: str) -> None:
        """Record which channel this attempt goes to."""
        self.channel = channel
        self.domain = domain

    def set_usage(self, usage: Usage, response_model: str) -> None:
        """Record token counts and the model the upstream answered with."""
        self.input_tokens = usage.input_tokens
        self.output_tokens = usage.output_tokens
        self.cache_creation_input_tokens = usage.cache_creation_tokens
        self.cache_read_input_tokens = usage.cache_read_tokens
        if response_model:
            self.response_model = response_model

    def set_cost(self, priced: PricedCost) -> None:
        """Record the cost of this attempt."""
        cost = priced.cost
        self.input_cost = cost.input
        self.output_cost = cost.output
        self.cache_creation_cost = cost.cache_creation
        self.cache_read_cost = cost.cache_read
        self.price = cost.total
        self.priced_by_target_model = priced.priced_by_target_model
        self.price_source = PRICED if priced.has_price else UNPRICED

    def finish(
        self, status: str, http_status: int, error: str = "", upstream_error: str = ""
    ) -> None:
        """Close the attempt with a final status."""
        self.status = status
        self.http_status = http_status
        self.error = error
        self.upstream_error = upstream_error
        self.complete_time = datetime.now(UTC)

    @property
    def duration_ms(self) -> int:
        """Return the attempt's duration, retry waits excluded."""
        if self.complete_time is None:
            return 0
        elapsed = (self.complete_time - self.initial_time).total_seconds() - self.wait_excluded
        return max(0, int(elapsed * 1000))

    def to_row(self) -> RequestLogsRow:
        """Return the request_logs row of the current state."""
        # PERF(store): positional, in column order: 42 keywords cost 1.8 us
        # more per row than 42 positions (tests/unit/proxy/test_record.py
        # checks the order against the column names).
        ch = self.channel
        first_ms = 0
        if self.first_token_time is not None:
            first_ms = int((self.first_token_time - self.initial_time).total_seconds() * 1000)
        return RequestLogsRow(
            self.id,
            self.initial_time,
            ch.service_type if ch else "",  # provider
            self.model,
            self.status,
            self.complete_time,
            self.duration_ms,
            ch.name if ch else None,  # provider_name
            self.response_model or None,
            self.input_tokens,
            self.output_tokens,
            self.cache_creation_input_tokens,
            self.cache_read_input_tokens,
            self.input_tokens + self.output_tokens,  # total_tokens
            self.price,
            self.input_cost,
            self.output_cost,
            self.cache_creation_cost,
            self.cache_read_cost,
            self.http_status,
            self.stream,
            self.transport or ("sse" if self.stream else "http"),  # transport
            ch.index if ch else -1,  # channel_id
            ch.name if ch else None,  # channel_name
            self.endpoint,
            self.domain or None,
            self.client_id or None,
            self.session_id or None,
            self.reasoning_effort or None,
            self.error or None,
            self.upstream_error or None,
            self.failover_info or None,
            self.api_key_id,
            self.initial_time,  # created_at
            ch.uid if ch else None,  # channel_uid
            self.first_token_time,
            first_ms,  # first_token_duration_ms
            self.service_tier or None,
            False,  # service_tier_overridden
            None,  # original_x_initiator
            None,  # effective_x_initiator
            self.priced_by_target_model,
            self.routed_via or None,
            None,  # instance_id, set by the writer
            self.request_id or None,
            self.price_source or None,
        )
