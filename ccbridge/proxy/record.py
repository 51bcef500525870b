"""The request-log record of one upstream attempt (spec §3.10).

Mutable while the attempt runs; the writer turns its latest state into a
request_logs row at flush time, so the request path builds no row at all.
"""

from __future__ import annotations

import itertools
import random
import time
from datetime import UTC, datetime

from ccbridge.proxy.pricing import PricedCost
from ccbridge.proxy.usage import Usage
from ccbridge.store.snapshot import Channel
from generated.rows import RequestLogsRow

__all__ = ("LogRecord", "new_log_id")


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
        "priced_by_target_model",
        "reasoning_effort",
        "response_model",
        "service_tier",
        "session_id",
        "status",
        "stream",
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
        self.input_tokens = self.output_tokens = 0
        self.cache_creation_input_tokens = self.cache_read_input_tokens = 0
        self.price = self.input_cost = self.output_cost = 0.0
        self.cache_creation_cost = self.cache_read_cost = 0.0
        self.written: RequestLogsRow | None = None  # set by the writer

    def next_attempt(self) -> LogRecord:
        """Return a fresh pending record for the next attempt."""
        return LogRecord(
            model=self.model,
            stream=self.stream,
            endpoint=self.endpoint,
            client_id=self.client_id,
            session_id=self.session_id,
            api_key_id=self.api_key_id,
            reasoning_effort=self.reasoning_effort,
        )

    def attach(self, channel: Channel, domain: str) -> None:
        """Record which channel this attempt goes to."""
        self.channel = channel
        self.domain = domain

    def mark_first_token(self) -> None:
        """Record the time of the first output token, once."""
        if self.first_token_time is None:
            self.first_token_time = datetime.now(UTC)

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
        ch = self.channel
        first_ms = 0
        if self.first_token_time is not None:
            first_ms = int((self.first_token_time - self.initial_time).total_seconds() * 1000)
        return RequestLogsRow(
            id=self.id,
            initial_time=self.initial_time,
            provider=ch.service_type if ch else "",
            model=self.model,
            status=self.status,
            complete_time=self.complete_time,
            duration_ms=self.duration_ms,
            provider_name=ch.name if ch else None,
            response_model=self.response_model or None,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens,
            total_tokens=self.input_tokens + self.output_tokens,
            price=self.price,
            input_cost=self.input_cost,
            output_cost=self.output_cost,
            cache_creation_cost=self.cache_creation_cost,
            cache_read_cost=self.cache_read_cost,
            http_status=self.http_status,
            stream=self.stream,
            transport="sse" if self.stream else "http",
            channel_id=ch.index if ch else -1,
            channel_name=ch.name if ch else None,
            endpoint=self.endpoint,
            domain=self.domain or None,
            client_id=self.client_id or None,
            session_id=self.session_id or None,
            reasoning_effort=self.reasoning_effort or None,
            error=self.error or None,
            upstream_error=self.upstream_error or None,
            failover_info=self.failover_info or None,
            api_key_id=self.api_key_id,
            created_at=self.initial_time,
            channel_uid=ch.uid if ch else None,
            first_token_time=self.first_token_time,
            first_token_duration_ms=first_ms,
            service_tier=self.service_tier or None,
            priced_by_target_model=self.priced_by_target_model,
        )
