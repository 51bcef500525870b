"""The metrics module's counting rules, read back from the registry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prometheus_client import REGISTRY

from ccbridge import metrics
from ccbridge.proxy.record import LogRecord
from ccbridge.routing.scheduler import CircuitBreaker


class _Channel:
    name, uid, index, service_type = "unit-ch", "unit-uid", 0, "claude"


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _record(status: str, http: int, **fields: Any) -> LogRecord:
    record = LogRecord(
        model="unit-model",
        stream=False,
        endpoint="/v1/unit",
        client_id="",
        session_id="",
        api_key_id=None,
    )
    record.attach(_Channel, "h")  # type: ignore[arg-type]
    for name, value in fields.items():
        setattr(record, name, value)
    record.finish(status, http)
    return record


def test_each_settled_attempt_counts_once_by_outcome() -> None:
    sel = {"endpoint": "/v1/unit", "channel": "unit-ch", "model": "unit-model"}
    before = {
        o: _value("ccbridge_requests_total", **sel, status=s, outcome=o)
        for o, s in (("completed", "200"), ("failover", "502"), ("retry_wait", "429"))
    }
    fails = _value("ccbridge_failovers_total", channel="unit-ch")
    retries = _value("ccbridge_retries_total", channel="unit-ch")
    tokens = _value("ccbridge_tokens_total", channel="unit-ch", model="unit-model", kind="output")
    pending = LogRecord(
        model="unit-model",
        stream=False,
        endpoint="/v1/unit",
        client_id="",
        session_id="",
        api_key_id=None,
    )
    metrics.attempt(pending)  # not settled: not counted
    done = _record("completed", 200, output_tokens=7, price=0.5)
    done.first_token_time = done.initial_time + timedelta(milliseconds=120)
    metrics.attempt(done)
    metrics.attempt(_record("failover", 502))
    metrics.attempt(_record("retry_wait", 429))
    metrics.attempt(_record("retry_wait", 429))
    got = {
        o: _value("ccbridge_requests_total", **sel, status=s, outcome=o) - before[o]
        for o, s in (("completed", "200"), ("failover", "502"), ("retry_wait", "429"))
    }
    assert got == {"completed": 1, "failover": 1, "retry_wait": 2}
    assert _value("ccbridge_failovers_total", channel="unit-ch") - fails == 1
    assert _value("ccbridge_retries_total", channel="unit-ch") - retries == 2
    out = _value("ccbridge_tokens_total", channel="unit-ch", model="unit-model", kind="output")
    assert out - tokens == 7


def test_breaker_opening_is_counted_once_per_opening() -> None:
    before = _value("ccbridge_breaker_opens_total", channel="b-uid")
    breaker = CircuitBreaker(lambda: 0.0, window=4, threshold=0.5)
    for _ in range(6):  # trips at the second failure, stays open after
        breaker.record("b-uid", False)
    assert _value("ccbridge_breaker_opens_total", channel="b-uid") - before == 1
    breaker.record("b-uid", True)  # closes
    breaker.record("b-uid", False)
    assert _value("ccbridge_breaker_opens_total", channel="b-uid") - before == 2


def test_render_is_the_prometheus_text_format() -> None:
    metrics.config_loaded(42, reload=True)
    text = metrics.render().decode()
    assert "# TYPE ccbridge_requests_total counter" in text
    assert "ccbridge_config_revision 42.0" in text
