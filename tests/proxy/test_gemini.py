"""The Gemini routes: generateContent and streamGenerateContent, passthrough.

Clients are httpx (raw requests, every key source and route prefix) and the
google-genai SDK; the channel is the checking Gemini fake
(tests/fakes/upstream.py) reached under the base normalised to /v1beta/models.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from google import genai
from google.genai import types

from tests.fakes.upstream import (
    _DEFAULT_TEXT,
    FakeUpstream,
    RecordedRequest,
    Reply,
    gemini_responder,
    openai_error,
)
from tests.proxy.conftest import (
    CLIENT_TLS,
    MASTER_KEY,
    Running,
    UpstreamFactory,
    http_client,
)

MODEL = "gemini-flash"
UPSTREAM_MODEL = "gemini-2.5-pro"
BODY = {"contents": [{"role": "user", "parts": [{"text": "Why does test_window fail?"}]}]}
ROUTES = ["/v1/models", "/v1/gemini/models", "/v1beta/models"]


def _under_v1beta(request: RecordedRequest) -> Reply:
    """The checking fake, served where a Gemini base URL puts it: /v1beta/models."""
    assert request.path.startswith("/v1beta/models/"), request.path
    return gemini_responder(dataclasses.replace(request, path=request.path[len("/v1beta") :]))


async def _channel(gateway: Running, upstreams: UpstreamFactory, **fields: Any) -> Any:
    up = await upstreams(responder=_under_v1beta)
    channel = await gateway.add_channel(
        "gemini",
        "g",
        up.url,
        ["goog-upstream-key"],
        service_type="gemini",
        model_mapping={MODEL: UPSTREAM_MODEL},
        **fields,
    )
    return up, channel


def _text(body: dict[str, Any]) -> str:
    return "".join(p.get("text", "") for p in body["candidates"][0]["content"]["parts"])


def _upstream_saw_only_its_key(up: FakeUpstream) -> None:
    for sent in up.requests:
        assert sent.header("x-goog-api-key") == "goog-upstream-key"
        assert "key=" not in sent.query
        assert MASTER_KEY not in json.dumps(dict(sent.headers))


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("key_in", ["x-goog-api-key", "query", "bearer"])
async def test_generate_content(
    gateway: Running, upstreams: UpstreamFactory, route: str, key_in: str
) -> None:
    up, channel = await _channel(gateway, upstreams)
    headers = {"x-goog-api-key": MASTER_KEY} if key_in == "x-goog-api-key" else {}
    if key_in == "bearer":
        headers["Authorization"] = f"Bearer {MASTER_KEY}"
    params = {"key": MASTER_KEY} if key_in == "query" else {}

    async with http_client() as client:
        resp = await client.post(
            f"{gateway.url}{route}/{MODEL}:generateContent",
            json=BODY,
            headers=headers,
            params=params,
        )

    assert resp.status_code == 200, resp.text
    assert _text(resp.json()) == _DEFAULT_TEXT
    (sent,) = up.requests
    assert sent.path == f"/v1beta/models/{UPSTREAM_MODEL}:generateContent"
    assert sent.json() == BODY  # passthrough: the body as it came
    _upstream_saw_only_its_key(up)
    (row,) = await gateway.logs()
    assert (row.endpoint, row.status, row.http_status) == ("/v1/gemini", "completed", 200)
    assert (row.model, row.channel_uid) == (MODEL, channel.channel_id)
    assert (row.input_tokens, row.cache_read_input_tokens, row.output_tokens) == (200, 1000, 40)
    assert row.response_model == UPSTREAM_MODEL


async def test_stream_generate_content(gateway: Running, upstreams: UpstreamFactory) -> None:
    await gateway.add_price(UPSTREAM_MODEL, 2.0, 10.0, cache_read_price=0.5)
    up, _ = await _channel(gateway, upstreams)

    async with (
        http_client() as client,
        client.stream(
            "POST",
            f"{gateway.url}/v1beta/models/{MODEL}:streamGenerateContent",
            params={"alt": "sse", "key": MASTER_KEY},
            json=BODY,
        ) as resp,
    ):
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = [
            json.loads(line[5:]) async for line in resp.aiter_lines() if line.startswith("data:")
        ]

    assert len(events) > 1
    assert "".join(_text(e) for e in events) == _DEFAULT_TEXT
    (sent,) = up.requests
    assert sent.query == "alt=sse"
    _upstream_saw_only_its_key(up)
    (row,) = await gateway.logs()
    assert (row.status, row.stream) == ("completed", True)
    assert (row.input_tokens, row.cache_read_input_tokens, row.output_tokens) == (200, 1000, 40)
    assert row.first_token_time is not None
    assert row.input_cost == pytest.approx(200 * 2.0 / 1e6)
    assert row.cache_read_cost == pytest.approx(1000 * 0.5 / 1e6)


def _sdk(gateway: Running, key: str = MASTER_KEY) -> genai.Client:
    options = types.HttpOptions(
        base_url=gateway.url,
        api_version="v1beta",
        client_args={"verify": CLIENT_TLS},
        async_client_args={"verify": CLIENT_TLS},
    )
    return genai.Client(api_key=key, http_options=options)


async def test_google_genai_sdk(gateway: Running, upstreams: UpstreamFactory) -> None:
    up, _ = await _channel(gateway, upstreams)
    client = _sdk(gateway)

    whole = await client.aio.models.generate_content(
        model=MODEL, contents="Why does test_window fail?"
    )
    pieces = [
        chunk.text or ""
        async for chunk in await client.aio.models.generate_content_stream(
            model=MODEL, contents="Why does test_window fail?"
        )
    ]

    assert whole.text == _DEFAULT_TEXT
    assert len(pieces) > 1 and "".join(pieces) == _DEFAULT_TEXT
    assert whole.usage_metadata is not None
    assert whole.usage_metadata.prompt_token_count == 1200
    _upstream_saw_only_its_key(up)
    rows = await gateway.logs()
    assert [(r.status, r.stream) for r in rows] == [("completed", False), ("completed", True)]


async def test_google_genai_sdk_function_call(gateway: Running, upstreams: UpstreamFactory) -> None:
    await _channel(gateway, upstreams)
    client = _sdk(gateway)
    tool = types.Tool(
        function_declarations=[
            types.FunctionDeclaration(
                name="read_file",
                description="Read a file.",
                parameters=types.Schema(
                    type=types.Type.OBJECT,
                    properties={"path": types.Schema(type=types.Type.STRING)},
                ),
            )
        ]
    )
    config = types.GenerateContentConfig(
        tools=[tool],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    contents: list[Any] = [types.Content(role="user", parts=[types.Part(text="Read app.py")])]

    first = await client.aio.models.generate_content(model=MODEL, contents=contents, config=config)
    (call,) = first.function_calls or []
    assert call.name == "read_file" and call.args == {"path": "src/app.py"}
    assert first.candidates is not None and first.candidates[0].content is not None
    contents += [
        first.candidates[0].content,
        types.Content(
            role="user",
            parts=[types.Part.from_function_response(name="read_file", response={"ok": True})],
        ),
    ]
    second = await client.aio.models.generate_content(model=MODEL, contents=contents, config=config)

    assert second.text == _DEFAULT_TEXT


async def test_sdk_error_and_permission(gateway: Running, upstreams: UpstreamFactory) -> None:
    bad = await upstreams(openai_error(400, "bad contents", "INVALID_ARGUMENT"))
    await gateway.add_channel("gemini", "bad", bad.url, ["k"], service_type="gemini")
    client = _sdk(gateway)
    with pytest.raises(genai.errors.ClientError) as caught:
        await client.aio.models.generate_content(model=MODEL, contents="hi")
    assert caught.value.code == 400
    assert "bad contents" in str(caught.value)

    key = await gateway.add_key("chat-only", allowed_endpoints=["chat"])
    with pytest.raises(genai.errors.ClientError) as denied:
        await _sdk(gateway, key).aio.models.generate_content(model=MODEL, contents="hi")
    assert denied.value.code == 403
    assert len(bad.requests) == 1


async def test_unknown_action_is_404(gateway: Running) -> None:
    async with http_client() as client:
        resp = await client.post(
            f"{gateway.url}/v1beta/models/{MODEL}:countTokens",
            json=BODY,
            headers={"x-goog-api-key": MASTER_KEY},
        )
    assert resp.status_code == 404
    assert "error" in resp.json()
