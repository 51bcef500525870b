"""LogRecord.to_row: every column gets the value it names."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from ccbridge.proxy.record import LogRecord
from generated.rows import RequestLogsRow


class _Channel:
    service_type = "claude"
    name = "primary"
    index = 3
    uid = "ch-uid-3"


def _record() -> LogRecord:
    record = LogRecord(
        model="claude-sonnet-4-5",
        stream=True,
        endpoint="/v1/messages",
        client_id="client-1",
        session_id="session-1",
        api_key_id=7,
        reasoning_effort="high",
    )
    record.initial_time = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    record.attach(_Channel, "upstream.example")  # type: ignore[arg-type]
    record.first_token_time = record.initial_time + timedelta(milliseconds=250)
    record.input_tokens, record.output_tokens = 11, 22
    record.cache_creation_input_tokens, record.cache_read_input_tokens = 33, 44
    record.input_cost, record.output_cost = 0.1, 0.2
    record.cache_creation_cost, record.cache_read_cost, record.price = 0.3, 0.4, 1.0
    record.response_model = "claude-sonnet-4-5-20250929"
    record.failover_info = "retry 1"
    record.service_tier = "priority"
    record.priced_by_target_model = True
    record.routed_via = "router-1"
    record.request_id = "req-abc"
    record.finish("error", 502, "bad gateway", "upstream said no")
    record.complete_time = record.initial_time + timedelta(seconds=2)
    return record


def test_to_row_puts_each_value_in_its_column() -> None:
    record = _record()
    expected = {
        "id": record.id,
        "initial_time": record.initial_time,
        "provider": "claude",
        "model": "claude-sonnet-4-5",
        "status": "error",
        "complete_time": record.complete_time,
        "duration_ms": 2000,
        "provider_name": "primary",
        "response_model": "claude-sonnet-4-5-20250929",
        "input_tokens": 11,
        "output_tokens": 22,
        "cache_creation_input_tokens": 33,
        "cache_read_input_tokens": 44,
        "total_tokens": 33,
        "price": 1.0,
        "input_cost": 0.1,
        "output_cost": 0.2,
        "cache_creation_cost": 0.3,
        "cache_read_cost": 0.4,
        "http_status": 502,
        "stream": True,
        "transport": "sse",
        "channel_id": 3,
        "channel_name": "primary",
        "endpoint": "/v1/messages",
        "domain": "upstream.example",
        "client_id": "client-1",
        "session_id": "session-1",
        "reasoning_effort": "high",
        "error": "bad gateway",
        "upstream_error": "upstream said no",
        "failover_info": "retry 1",
        "api_key_id": 7,
        "created_at": record.initial_time,
        "channel_uid": "ch-uid-3",
        "first_token_time": record.first_token_time,
        "first_token_duration_ms": 250,
        "service_tier": "priority",
        "service_tier_overridden": False,
        "original_x_initiator": None,
        "effective_x_initiator": None,
        "priced_by_target_model": True,
        "routed_via": "router-1",
        "instance_id": None,  # stamped by the writer
        "request_id": "req-abc",
        "price_source": None,  # set with the cost (set_cost)
    }
    row = record.to_row()
    assert set(expected) == {f.name for f in dataclasses.fields(RequestLogsRow)}
    assert dataclasses.asdict(row) == expected


def test_to_row_of_a_pending_record_without_channel() -> None:
    record = LogRecord(
        model="m",
        stream=False,
        endpoint="/v1/responses",
        client_id="",
        session_id="",
        api_key_id=None,
    )
    row = record.to_row()
    assert (row.status, row.provider, row.channel_id, row.channel_uid) == ("pending", "", -1, None)
    assert (row.complete_time, row.duration_ms, row.transport) == (None, 0, "http")
    assert (row.client_id, row.session_id, row.error, row.domain) == (None, None, None, None)
