"""GET /v1/responses as a WebSocket, with the `websockets` client as Codex would use it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import InvalidStatus

from tests.fakes.upstream import (
    CloseAfter,
    SseReply,
    gemini_responder,
    messages_responder,
    openai_error,
    responses_responder,
    responses_sse_reply,
)
from tests.proxy.conftest import MASTER_KEY, Running, UpstreamFactory, dead_url, http_client

OAI_KEY = "sk-proj-codex-ws-0001"
# Seeded gpt-5-codex price per million: 1.25 in, 10 out, 0.125 cache read.
INPUT, CACHED, OUTPUT = 1820 - 1536, 1536, 96
COST = (INPUT * 1.25 + OUTPUT * 10.0 + CACHED * 0.125) / 1e6
BETA = "responses_websockets=2026-02-06"
TOOLS = [{"type": "function", "name": "read_file", "parameters": {"type": "object"}}]


def _create(**fields: Any) -> str:
    frame = {
        "type": "response.create",
        "model": "gpt-5-codex",
        "instructions": "You are Codex.",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
        ],
        "store": False,
        "stream": True,
        "prompt_cache_key": "pck-ws-1",
        **fields,
    }
    return json.dumps(frame)


@asynccontextmanager
async def _socket(gateway: Running, key: str = MASTER_KEY) -> AsyncIterator[ClientConnection]:
    url = gateway.url.replace("http://", "ws://") + "/v1/responses"
    headers = {"Authorization": f"Bearer {key}", "OpenAI-Beta": BETA}
    async with connect(url, additional_headers=headers, open_timeout=10) as ws:
        yield ws


async def _turn(ws: ClientConnection, frame: str) -> list[dict[str, Any]]:
    """Send a frame; return the events up to the turn's last (completed, failed or error)."""
    await ws.send(frame)
    events: list[dict[str, Any]] = []
    while True:
        event = json.loads(await ws.recv(decode=True))
        events.append(event)
        if event["type"] in ("response.completed", "response.failed", "error"):
            return events


async def _enabled(gateway: Running) -> None:
    await gateway.set_setting("responses_websocket", json.dumps({"enabled": True}))


async def test_one_turn_streams_the_events_and_logs_a_ws_row(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    await _enabled(gateway)
    up = await upstreams(responses_sse_reply(deltas=["pat", "ched"]))
    channel = await gateway.add_channel("responses", "codex", up.url, [OAI_KEY])

    async with _socket(gateway) as ws:
        events = await _turn(ws, _create())

    expected = [e.data for e in responses_sse_reply(deltas=["pat", "ched"]).events]
    assert events == expected
    (seen,) = up.requests
    sent = seen.json()
    assert sent["stream"] is True and "type" not in sent
    assert sent["input"][0]["content"][0]["text"] == "hi"
    assert seen.header("authorization") == f"Bearer {OAI_KEY}"
    assert seen.header("sec-websocket-key") is None and seen.header("openai-beta") is None
    (row,) = await gateway.logs()
    assert (row.status, row.http_status, row.stream, row.transport) == (
        "completed",
        200,
        True,
        "ws",
    )
    assert (row.endpoint, row.channel_uid, row.session_id) == (
        "/v1/responses",
        channel.channel_id,
        "pck-ws-1",
    )
    assert (row.input_tokens, row.cache_read_input_tokens, row.output_tokens) == (
        INPUT,
        CACHED,
        OUTPUT,
    )
    assert row.price == pytest.approx(COST)


async def test_tool_round_trip_over_several_turns_on_one_socket(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    await _enabled(gateway)
    up = await upstreams(responder=responses_responder)
    await gateway.add_channel("responses", "codex", up.url, [OAI_KEY])

    async with _socket(gateway) as ws:
        first = await _turn(ws, _create(tools=TOOLS))
        done = first[-1]["response"]
        (call,) = done["output"]
        assert call["type"] == "function_call" and call["name"] == "read_file"
        # Codex continues on the same socket with only the new items.
        result = {"type": "function_call_output", "call_id": call["call_id"], "output": "ok"}
        second = await _turn(
            ws, _create(tools=TOOLS, previous_response_id=done["id"], input=[result])
        )

    assert second[-1]["type"] == "response.completed", second[-1]
    text = "".join(e["delta"] for e in second if e["type"] == "response.output_text.delta")
    assert text
    _, again = up.requests
    sent = again.json()
    assert "previous_response_id" not in sent
    assert [i.get("type", "message") for i in sent["input"]] == [
        "message",
        "function_call",
        "function_call_output",
    ]
    rows = await gateway.logs()
    assert [(r.status, r.transport) for r in rows] == [("completed", "ws")] * 2


@pytest.mark.parametrize(
    ("kind", "responder", "upstream_model"),
    [
        ("claude", messages_responder, "claude-sonnet-4-5"),
        ("gemini", gemini_responder, "gemini-2.5-pro"),
    ],
)
async def test_converted_channel_serves_a_tool_round_trip(
    gateway: Running, upstreams: UpstreamFactory, kind: str, responder: Any, upstream_model: str
) -> None:
    await _enabled(gateway)
    up = await upstreams(responder=responder)
    channel = await gateway.add_channel(
        "responses",
        kind,
        up.url,
        ["upstream-key-1"],
        service_type=kind,
        model_mapping={"gpt-5-codex": upstream_model},
    )

    async with _socket(gateway) as ws:
        first = await _turn(ws, _create(tools=TOOLS))
        done = first[-1]["response"]
        (call,) = [i for i in done["output"] if i["type"] == "function_call"]
        result = {"type": "function_call_output", "call_id": call["call_id"], "output": "ok"}
        second = await _turn(
            ws, _create(tools=TOOLS, previous_response_id=done["id"], input=[result])
        )

    assert first[0]["type"] == "response.created"
    assert second[-1]["type"] == "response.completed", second[-1]
    assert any(e["type"] == "response.output_text.delta" for e in second)
    assert len(up.requests) == 2  # the fake checks every call was answered
    rows = await gateway.logs()
    assert [(r.status, r.transport, r.channel_uid) for r in rows] == [
        ("completed", "ws", channel.channel_id)
    ] * 2
    assert all(r.output_tokens > 0 for r in rows)


async def test_client_leaving_mid_turn_logs_499(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    await _enabled(gateway)
    whole = responses_sse_reply()
    slow = SseReply(whole.events, event_delay=0.3)
    up = await upstreams(slow)
    await gateway.add_channel("responses", "codex", up.url, [OAI_KEY])

    async with _socket(gateway) as ws:
        await ws.send(_create())
        first = json.loads(await ws.recv(decode=True))
        assert first["type"] == "response.created"
    # The socket is closed: the turn stops and its row says the client left.
    for _ in range(200):
        rows = await gateway.logs()
        if rows and rows[0].status != "pending":
            break
        await asyncio.sleep(0.05)
    (row,) = rows
    assert (row.status, row.http_status, row.transport) == ("error", 499, "ws")


async def test_prewarm_answers_without_upstream_and_the_next_turn_continues_it(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    await _enabled(gateway)
    up = await upstreams(responder=responses_responder)
    await gateway.add_channel("responses", "codex", up.url, [OAI_KEY])

    async with _socket(gateway) as ws:
        warm = await _turn(ws, _create(generate=False))
        assert [e["type"] for e in warm] == ["response.created", "response.completed"]
        assert up.requests == ()
        more = {"type": "message", "role": "user", "content": "and more"}
        events = await _turn(
            ws, _create(previous_response_id=warm[-1]["response"]["id"], input=[more])
        )

    assert events[-1]["type"] == "response.completed"
    (seen,) = up.requests
    assert [i["content"] for i in seen.json()["input"]][1] == "and more"
    assert len(await gateway.logs()) == 1


async def test_upstream_error_before_the_first_event_is_an_error_frame(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    await _enabled(gateway)
    reply = openai_error(400, "Unsupported parameter: 'temperature'", "invalid_request_error")
    up = await upstreams(reply, responses_sse_reply())
    await gateway.add_channel("responses", "codex", up.url, [OAI_KEY])

    async with _socket(gateway) as ws:
        (error,) = await _turn(ws, _create(temperature=0.2))
        after = await _turn(ws, _create())  # the socket serves the next turn

    assert error == {"type": "error", "status": 400, "error": reply.body["error"]}
    assert after[-1]["type"] == "response.completed"
    failed, served = await gateway.logs()
    assert (failed.status, failed.http_status, failed.transport) == ("error", 400, "ws")
    assert served.status == "completed"


async def test_upstream_break_after_the_first_event_ends_with_response_failed(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    await _enabled(gateway)
    whole = responses_sse_reply()
    up = await upstreams(CloseAfter(whole, whole.wire_length_through(4)))
    await gateway.add_channel("responses", "codex", up.url, [OAI_KEY])

    async with _socket(gateway) as ws:
        events = await _turn(ws, _create())

    assert [e["type"] for e in events[:4]] == [e.data["type"] for e in whole.events[:4]]
    assert events[-1]["type"] == "response.failed"
    (row,) = await gateway.logs()
    assert (row.status, row.http_status, row.transport) == ("error", 502, "ws")
    assert "broke off" in (row.error or "")


async def test_failover_to_the_next_channel_before_the_first_event(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    await _enabled(gateway)
    up = await upstreams(responses_sse_reply())
    dead = await gateway.add_channel("responses", "dead", dead_url(), ["sk-dead"])
    live = await gateway.add_channel("responses", "live", up.url, [OAI_KEY])

    async with _socket(gateway) as ws:
        events = await _turn(ws, _create())

    assert events[-1]["type"] == "response.completed"
    failed, served = await gateway.logs()
    assert (failed.status, failed.channel_uid, failed.transport) == (
        "failover",
        dead.channel_id,
        "ws",
    )
    assert (served.status, served.channel_uid) == ("completed", live.channel_id)


async def test_no_channel_is_an_error_frame(gateway: Running) -> None:
    await _enabled(gateway)
    async with _socket(gateway) as ws:
        (error,) = await _turn(ws, _create())
        (bad,) = await _turn(ws, json.dumps({"type": "response.cancel"}))
    assert (error["status"], error["error"]["code"]) == (404, "NO_CHANNELS_CONFIGURED")
    assert bad["status"] == 400 and "response.create" in bad["error"]["message"]


async def _refused(gateway: Running, key: str) -> tuple[int, dict[str, Any]]:
    with pytest.raises(InvalidStatus) as info:
        async with _socket(gateway, key):
            pass
    response = info.value.response
    return response.status_code, json.loads(response.body or b"{}")


async def test_handshake_refusals_answer_in_http(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    up = await upstreams(responses_sse_reply())
    await gateway.add_channel("responses", "codex", up.url, [OAI_KEY])
    claude_only = await gateway.add_key("claude-only", allowed_endpoints=["messages"])

    status, body = await _refused(gateway, MASTER_KEY)  # the switch is off by default
    assert (status, body["error"]["code"]) == (426, "WEBSOCKET_DISABLED")
    await _enabled(gateway)
    status, body = await _refused(gateway, "sk-wrong")
    assert (status, body["error"]["code"]) == (401, "INVALID_API_KEY")
    status, body = await _refused(gateway, claude_only)
    assert status == 403 and body["error"]["type"] == "permission_error"
    assert up.requests == () and await gateway.logs() == []


async def test_admin_switch_turns_the_socket_on(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    up = await upstreams(responses_sse_reply())
    await gateway.add_channel("responses", "codex", up.url, [OAI_KEY])
    async with http_client(base_url=gateway.url, headers={"x-api-key": MASTER_KEY}) as api:
        assert (await api.get("/api/config/responses-websocket")).json() == {"enabled": False}
        bad = await api.put("/api/config/responses-websocket", json={"enabled": "yes"})
        assert bad.status_code == 422
        assert (await _refused(gateway, MASTER_KEY))[0] == 426
        on = await api.put("/api/config/responses-websocket", json={"enabled": True})
        assert on.status_code == 200 and on.json() == {"enabled": True}

    async with _socket(gateway) as ws:
        events = await _turn(ws, _create())
    assert events[-1]["type"] == "response.completed"


@asynccontextmanager
async def _ws_upstream(*turns: list[dict[str, Any]]) -> AsyncIterator[tuple[str, list[Any]]]:
    """A WebSocket Responses upstream: each connection answers the next scripted turn."""
    script, seen = list(turns), []

    async def handler(conn: ServerConnection) -> None:
        frame = json.loads(await conn.recv())
        assert conn.request is not None
        seen.append((conn.request.headers, frame))
        for event in script.pop(0):
            await conn.send(json.dumps(event))

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"http://127.0.0.1:{port}", seen


async def test_websocket_channel_gets_the_turn_over_its_own_websocket(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    await _enabled(gateway)
    events = [e.data for e in responses_sse_reply(deltas=["over", " ws"]).events]
    async with _ws_upstream(events, events) as (url, seen):
        channel = await gateway.add_channel(
            "responses", "ws", url, [OAI_KEY], responses_websocket_enabled=True
        )
        async with _socket(gateway) as ws:
            first = await _turn(ws, _create())
            done = first[-1]["response"]
            more = {"type": "message", "role": "user", "content": "and more"}
            await _turn(ws, _create(previous_response_id=done["id"], input=[more]))

    assert first == events
    (headers, frame), (_, second) = seen
    assert headers["Authorization"] == f"Bearer {OAI_KEY}"
    assert headers["OpenAI-Beta"] == BETA
    assert frame["type"] == "response.create" and frame["input"][0]["content"][0]["text"] == "hi"
    assert "previous_response_id" not in second and len(second["input"]) == 3
    rows = await gateway.logs()
    assert [(r.status, r.transport, r.channel_uid) for r in rows] == [
        ("completed", "ws", channel.channel_id)
    ] * 2
    assert (rows[0].input_tokens, rows[0].output_tokens) == (INPUT, OUTPUT)
    assert rows[0].price == pytest.approx(COST)


async def test_websocket_channel_error_before_the_first_event_fails_over(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    await _enabled(gateway)
    await gateway.set_failover(
        [{"errorCodes": "500", "actionChain": [{"action": "failover", "maxAttempts": 1}]}]
    )
    refusal = {"type": "error", "status": 500, "error": {"type": "server_error", "message": "boom"}}
    up = await upstreams(responses_sse_reply())
    async with _ws_upstream([refusal]) as (url, seen):
        ws_channel = await gateway.add_channel(
            "responses", "ws", url, ["sk-ws"], responses_websocket_enabled=True
        )
        http_channel = await gateway.add_channel("responses", "http", up.url, [OAI_KEY])
        async with _socket(gateway) as ws:
            events = await _turn(ws, _create())

    assert events[-1]["type"] == "response.completed"
    assert len(seen) == 1 and len(up.requests) == 1
    failed, served = await gateway.logs()
    assert (failed.status, failed.http_status, failed.channel_uid) == (
        "failover",
        500,
        ws_channel.channel_id,
    )
    assert "boom" in (failed.upstream_error or "")
    assert (served.status, served.channel_uid) == ("completed", http_channel.channel_id)


async def test_wrong_keys_at_the_handshake_block_the_address(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    await _enabled(gateway)
    up = await upstreams(responses_sse_reply())
    await gateway.add_channel("responses", "codex", up.url, [OAI_KEY])

    statuses = [(await _refused(gateway, f"sk-wrong-{i:04d}"))[0] for i in range(6)]

    assert statuses == [401] * 5 + [429]  # the HTTP path's default thresholds
    async with _socket(gateway) as ws:  # a valid key is never blocked
        assert (await _turn(ws, _create()))[-1]["type"] == "response.completed"
