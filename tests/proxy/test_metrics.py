"""GET /metrics of a real `ccbridge serve` (1 and 2 workers) after known traffic.

The counters must equal what was sent, and agree with the rows the
workers wrote; with two workers the traffic is checked to have reached
both (the rows' instance ids), so the sum across processes is exercised.
The access log (JSON) has one line per request, with its request id.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from ccbridge.db.base import connect
from ccbridge.db.migrate import migrate
from ccbridge.settings import Settings
from ccbridge.workers import reuse_port_supported
from generated.rows import ChannelsRow
from tests.fakes.upstream import (
    FakeUpstream,
    JsonReply,
    RecordedRequest,
    Reply,
    messages_json_reply,
    messages_sse_reply,
)
from tests.proxy.childserver import free_port, until_healthy
from tests.proxy.conftest import MASTER_KEY

MODEL = "claude-haiku-4-5"
TOKEN = "metrics-token-0123456789"
WHOLE, STREAMED, REFUSED = 9, 5, 3
_REPO = Path(__file__).resolve().parents[2]


def _responder(request: RecordedRequest) -> Reply:
    if b'"refuse me"' in request.body:  # a client error: returned as it is, not retried
        return JsonReply({"type": "error", "error": {"type": "invalid_request_error"}}, status=400)
    if b'"stream":true' in request.body.replace(b" ", b""):
        return messages_sse_reply(deltas=3)
    return messages_json_reply()


def _samples(text: str, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """Return `name`'s samples by label set."""
    out: dict[frozenset[tuple[str, str]], float] = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            head, value = line.rsplit(" ", 1)
            labels = head[len(name) :].strip("{}")
            pairs = [p.split("=", 1) for p in labels.split('",') if p] if labels else []
            key = frozenset((k, v.strip('"')) for k, v in pairs)
            out[key] = out.get(key, 0.0) + float(value)
    return out


def _total(text: str, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for k, v in _samples(text, name).items() if want <= k)


@pytest.mark.parametrize("workers", [1, 2])
async def test_metrics_count_what_was_sent(workers: int, tmp_path: Path) -> None:
    if workers > 1 and not reuse_port_supported():
        pytest.fail("--workers 2 needs Linux SO_REUSEPORT here")
    data = tmp_path / "data"
    data.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
        "PROXY_ACCESS_KEY": MASTER_KEY,
        "CCBRIDGE_DATA_DIR": str(data),
        "DATABASE_URL": str(data / "cc-bridge.db"),
        "METRICS_TOKEN": TOKEN,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "info",
    }
    settings = Settings.from_env({k: env[k] for k in ("CCBRIDGE_DATA_DIR", "DATABASE_URL")})
    db = connect(settings)
    await db.open()
    log_path = tmp_path / "stderr.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        async with FakeUpstream(responder=_responder) as up:
            await migrate(db)
            async with db.transaction() as tx:
                await tx.channels.insert(
                    ChannelsRow(
                        channel_id="c1",
                        channel_type="messages",
                        name="metered",
                        service_type="claude",
                        base_url=up.url,
                        api_keys=["sk-ant-metrics-secret-0001"],
                    )
                )
                await tx.settings.bump_revision()
            port = free_port()
            cmd = [sys.executable, "-m", "ccbridge", "serve", "--port", str(port)]
            with log_path.open("wb") as log_file:
                proc = subprocess.Popen(
                    [*cmd, "--workers", str(workers)], cwd=_REPO, env=env, stderr=log_file
                )
            await until_healthy(port, timeout=30)
            # Every worker listening first (each registers its instance when it
            # starts): else the kernel hands all connections to the early one.
            for _ in range(300):
                if len(await db.daos.instances.list()) >= workers:
                    break
                await asyncio.sleep(0.1)
            base = f"http://127.0.0.1:{port}"
            sent_ids: list[str] = []
            answered_ids: list[str] = []

            async def one(i: int, *, stream: bool = False, refuse: bool = False) -> int:
                rid = f"test-{i}"
                sent_ids.append(rid)
                body = {
                    "model": MODEL,
                    "max_tokens": 8,
                    "stream": stream,
                    "messages": [{"role": "user", "content": "refuse me" if refuse else "hi"}],
                }
                # A connection each: with 2 workers the kernel spreads them by address.
                async with httpx.AsyncClient(timeout=20) as http:
                    resp = await http.post(
                        f"{base}/v1/messages",
                        json=body,
                        headers={"x-api-key": MASTER_KEY, "x-request-id": rid},
                    )
                answered_ids.append(resp.headers["x-request-id"])
                return resp.status_code

            statuses = await asyncio.gather(
                *(one(i) for i in range(WHOLE)),
                *(one(100 + i, stream=True) for i in range(STREAMED)),
                *(one(200 + i, refuse=True) for i in range(REFUSED)),
            )
            assert Counter(statuses) == {200: WHOLE + STREAMED, 400: REFUSED}
            assert sorted(answered_ids) == sorted(sent_ids)
            # The rows, once the writers flushed them.
            for _ in range(100):
                rows = [r for r in await db.daos.request_logs.list() if r.status != "pending"]
                if len(rows) >= WHOLE + STREAMED + REFUSED:
                    break
                await asyncio.sleep(0.1)
            async with httpx.AsyncClient(timeout=5) as http:
                assert (await http.get(f"{base}/metrics")).status_code == 401
                wrong = {"Authorization": "Bearer nope"}
                assert (await http.get(f"{base}/metrics", headers=wrong)).status_code == 401
                auth = {"Authorization": f"Bearer {TOKEN}"}
                # Several scrapes: with 2 workers each may reach either; all must agree.
                scrapes = []
                for _ in range(4):
                    async with httpx.AsyncClient(timeout=5) as fresh:
                        got = await fresh.get(f"{base}/metrics", headers=auth)
                    assert got.status_code == 200
                    assert got.headers["content-type"].startswith("text/plain")
                    scrapes.append(got.text)
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        await db.close()

    n = WHOLE + STREAMED
    for text in scrapes:
        sel = {"endpoint": "/v1/messages", "channel": "metered", "model": MODEL}
        assert _total(text, "ccbridge_requests_total", **sel, status="200") == n
        assert _total(text, "ccbridge_requests_total", **sel, status="400") == REFUSED
        assert _total(text, "ccbridge_requests_total") == n + REFUSED
        assert _total(text, "ccbridge_tokens_total", kind="input") == n * 2095
        assert _total(text, "ccbridge_tokens_total", kind="output") == n * 187
        assert _total(text, "ccbridge_tokens_total", kind="cache_read") == n * 20480
        cost = sum(r.price or 0 for r in rows)
        assert cost > 0
        assert _total(text, "ccbridge_cost_usd_total") == pytest.approx(cost)
        assert _total(text, "ccbridge_request_duration_seconds_count") == n + REFUSED
        assert _total(text, "ccbridge_time_to_first_token_seconds_count") == STREAMED
        assert _total(text, "ccbridge_open_streams") == 0
        assert _total(text, "ccbridge_config_revision") >= 1
        assert _total(text, "ccbridge_writer_flush_seconds_count") >= 1
    # The rows agree, each with its request id; with 2 workers both served.
    assert sorted(r.request_id or "" for r in rows) == sorted(sent_ids)
    by_outcome = Counter((r.status, r.http_status) for r in rows)
    assert by_outcome == {("completed", 200): n, ("error", 400): REFUSED}
    assert len({r.instance_id for r in rows}) == workers
    # One JSON access line per proxied request, never the secrets.
    log_text = log_path.read_text()
    lines = [json.loads(x) for x in log_text.splitlines() if x.startswith("{")]
    access = [x for x in lines if x.get("logger") == "ccbridge.access"]
    assert sorted(x["request_id"] for x in access) == sorted(sent_ids)
    assert {x["channel"] for x in access} == {"metered"}
    assert Counter(x["status"] for x in access) == {200: n, 400: REFUSED}
    streamed = [x for x in access if x["request_id"].startswith("test-1")]
    assert all(x["input_tokens"] == 2095 and x["output_tokens"] == 187 for x in streamed)
    assert MASTER_KEY not in log_text and "sk-ant-metrics-secret" not in log_text
    assert TOKEN not in log_text


async def test_metrics_disabled_and_insane_request_id(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
        "PROXY_ACCESS_KEY": MASTER_KEY,
        "CCBRIDGE_DATA_DIR": str(data),
        "DATABASE_URL": str(data / "cc-bridge.db"),
        "METRICS_ENABLED": "false",
    }
    port = free_port()
    cmd = [sys.executable, "-m", "ccbridge", "serve", "--port", str(port), "--log-level", "error"]
    proc = subprocess.Popen(cmd, cwd=_REPO, env=env, stderr=subprocess.DEVNULL)
    try:
        await until_healthy(port, timeout=30)
        async with httpx.AsyncClient(timeout=5) as http:
            assert (await http.get(f"http://127.0.0.1:{port}/metrics")).status_code == 404
            bad = "x" * 200
            resp = await http.post(
                f"http://127.0.0.1:{port}/v1/messages",
                json={"model": MODEL, "messages": []},
                headers={"x-api-key": "wrong-key", "x-request-id": bad},
            )
            assert resp.status_code == 401
            rid = resp.headers["x-request-id"]
            assert rid != bad and len(rid) == 32
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
