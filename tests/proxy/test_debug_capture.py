"""Debug-log capture: bodies cut and gzipped, headers kept, per attempt."""

from __future__ import annotations

import gzip
import json

import anthropic

from generated.rows import SettingsRow
from tests.fakes.upstream import FakeUpstream, messages_json_reply, messages_sse_reply
from tests.proxy.conftest import MASTER_KEY, Running


async def _enable_debug(gateway: Running, max_body: int) -> None:
    setting = json.dumps({"enabled": True, "maxBodySize": max_body})
    async with gateway.db.transaction() as tx:
        await tx.settings.upsert(SettingsRow(key="debug_log", value=setting, category="config"))
        await tx.settings.bump_revision()
    await gateway.reload()


async def test_debug_rows_hold_cut_bodies_and_headers(gateway: Running) -> None:
    async with FakeUpstream(messages_json_reply(), messages_sse_reply()) as up:
        await gateway.add_channel("messages", "one", up.url, ["sk-ant-debug-key-1"])
        await _enable_debug(gateway, max_body=64)
        client = anthropic.AsyncAnthropic(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0)
        messages = [{"role": "user", "content": "x" * 500}]
        await client.messages.create(model="claude-sonnet-4-5", max_tokens=8, messages=messages)
        async with client.messages.stream(
            model="claude-sonnet-4-5", max_tokens=8, messages=messages
        ) as s:
            await s.get_final_message()
        logs = await gateway.logs()
        debug = await gateway.db.daos.request_debug_logs.list(order_by="created_at")
    assert [d.request_id for d in debug] == [row.id for row in logs]
    for row in debug:
        body = gzip.decompress(row.request_body)
        assert len(body) == 64 + len(b"\n... [truncated]")
        assert body.endswith(b"\n... [truncated]")
        assert row.request_body_size > 500
        headers = json.loads(gzip.decompress(row.request_headers))
        # Masked before it is stored; the SDK sends the key as a Bearer token.
        assert headers["authorization"] == f"Bearer t...{MASTER_KEY[-4:]}"
        assert "authorization" in json.loads(gzip.decompress(row.request_removed_headers))
        assert row.response_status == 200
        assert gzip.decompress(row.response_body).endswith(b"\n... [truncated]")
    assert debug[1].response_body_size > 64
    stream_headers = json.loads(gzip.decompress(debug[1].response_headers))
    content_type = {k.lower(): v for k, v in stream_headers.items()}["content-type"]
    assert content_type.startswith("text/event-stream")  # the upstream's own header


async def test_no_debug_rows_when_disabled(gateway: Running) -> None:
    async with FakeUpstream(default=messages_json_reply()) as up:
        await gateway.add_channel("messages", "one", up.url, ["sk-ant-debug-key-1"])
        client = anthropic.AsyncAnthropic(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0)
        await client.messages.create(
            model="claude-sonnet-4-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
        await gateway.flush()
        assert await gateway.db.daos.request_debug_logs.count() == 0
