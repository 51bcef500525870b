"""Client auth, per-key permissions and limits, request checks (spec §3.1, §3.2)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import anthropic
import openai
import pytest

from tests.fakes.upstream import messages_json_reply, responses_json_reply
from tests.proxy.conftest import (
    MASTER_KEY,
    Running,
    UpstreamFactory,
    claude_client,
    codex_client,
    http_client,
)

MODEL = "claude-haiku-4-5"
PROMPT = [{"role": "user", "content": "hello"}]
FIXED_NOW = 1_700_000_010.0  # 30 s before the minute 1_700_000_040 starts


def _client(gateway: Running, key: str) -> anthropic.AsyncAnthropic:
    return claude_client(gateway, key)


async def _ask(client: anthropic.AsyncAnthropic, model: str = MODEL) -> str:
    async with client:
        message = await client.messages.create(model=model, max_tokens=8, messages=PROMPT)
    return message.content[0].text  # type: ignore[union-attr]


async def _channel(gateway: Running, upstreams: UpstreamFactory, name: str = "a") -> str:
    up = await upstreams(default=messages_json_reply(text=name))
    row = await gateway.add_channel("messages", name, up.url, [f"sk-ant-{name}"])
    return row.channel_id


async def test_missing_key_is_401(gateway: Running, upstreams: UpstreamFactory) -> None:
    await _channel(gateway, upstreams)
    async with http_client() as http:
        resp = await http.post(
            gateway.url + "/v1/messages", json={"model": MODEL, "messages": PROMPT}
        )

    assert resp.status_code == 401
    assert resp.json() == {
        "type": "error",
        "error": {
            "type": "authentication_error",
            "message": "invalid or missing proxy access key",
            "code": "INVALID_API_KEY",
        },
    }
    assert await gateway.logs() == []


async def test_wrong_key_is_sdk_authentication_error(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    await _channel(gateway, upstreams)

    with pytest.raises(anthropic.AuthenticationError) as info:
        await _ask(_client(gateway, "sk-not-a-key-of-this-gateway"))

    assert info.value.status_code == 401
    assert await gateway.logs() == []


async def test_managed_key_works_until_disabled(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    await _channel(gateway, upstreams)
    plain = await gateway.add_key("laptop")
    (stored,) = await gateway.db.daos.api_keys.list()
    assert stored.last_used_at is None
    before = datetime.now(UTC)

    assert await _ask(_client(gateway, plain)) == "a"
    (row,) = await gateway.logs()
    assert row.api_key_id == stored.id
    (used,) = await gateway.db.daos.api_keys.list()
    assert used.last_used_at is not None and before <= used.last_used_at <= datetime.now(UTC)

    await gateway.set_key_status(plain, "disabled")
    with pytest.raises(anthropic.AuthenticationError):
        await _ask(_client(gateway, plain))


async def test_master_key_logs_api_key_id_zero(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    await _channel(gateway, upstreams)
    await _ask(_client(gateway, MASTER_KEY))
    (row,) = await gateway.logs()
    assert row.api_key_id == 0


async def test_managed_key_as_bearer_on_responses(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    up = await upstreams(default=responses_json_reply(text="codex ok"))
    await gateway.add_channel("responses", "r", up.url, ["sk-proj-r"])
    plain = await gateway.add_key("codex")
    async with codex_client(gateway, plain) as client:
        response = await client.responses.create(model="gpt-5-codex", input="hi")
    assert response.output_text == "codex ok"
    assert up.requests[0].header("authorization") == "Bearer sk-proj-r"


async def test_endpoint_not_allowed_is_403(gateway: Running, upstreams: UpstreamFactory) -> None:
    await _channel(gateway, upstreams)
    plain = await gateway.add_key("codex-only", allowed_endpoints=["responses"])

    with pytest.raises(anthropic.PermissionDeniedError) as info:
        await _ask(_client(gateway, plain))

    body = info.value.body
    assert isinstance(body, dict)
    assert body["error"]["code"] == "ENDPOINT_NOT_ALLOWED"
    assert body["error"]["type"] == "permission_error"
    assert body["error"]["message"] == "Endpoint /v1/messages not allowed for this API key"
    assert await gateway.logs() == []


async def test_model_glob_allowlist(gateway: Running, upstreams: UpstreamFactory) -> None:
    await _channel(gateway, upstreams)
    plain = await gateway.add_key("haiku-only", allowed_models=["Claude-Haiku-*"])

    assert await _ask(_client(gateway, plain), "claude-haiku-4-5-20251001") == "a"
    with pytest.raises(anthropic.PermissionDeniedError) as info:
        await _ask(_client(gateway, plain), "claude-opus-4-1")

    body = info.value.body
    assert isinstance(body, dict)
    assert body["error"]["code"] == "MODEL_NOT_ALLOWED"
    assert len(await gateway.logs()) == 1


async def test_channel_allowlist_restricts_routing(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    await _channel(gateway, upstreams, "a")
    b_uid = await _channel(gateway, upstreams, "b")
    plain = await gateway.add_key("b-only", allowed_channels_msg=[b_uid])

    assert await _ask(_client(gateway, plain)) == "b"  # though a comes first
    assert await _ask(_client(gateway, MASTER_KEY)) == "a"


async def test_channel_allowlist_with_no_match_is_403(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    await _channel(gateway, upstreams, "a")
    await _channel(gateway, upstreams, "b")
    plain = await gateway.add_key("nowhere", allowed_channels_msg=["no-such-channel"])

    with pytest.raises(anthropic.PermissionDeniedError) as info:
        await _ask(_client(gateway, plain))

    body = info.value.body
    assert isinstance(body, dict)
    assert body["error"]["code"] == "CHANNEL_NOT_ALLOWED"
    (row,) = await gateway.logs()
    assert (row.status, row.http_status) == ("error", 403)


async def test_per_key_rpm_limit(gateway: Running, upstreams: UpstreamFactory) -> None:
    await _channel(gateway, upstreams)
    plain = await gateway.add_key("slow", rate_limit_rpm=2)
    gateway.rt.rate_limiter._clock = lambda: FIXED_NOW  # one fixed minute: no window rollover

    async with _client(gateway, plain) as client:
        create = client.messages.with_raw_response.create
        first = await create(model=MODEL, max_tokens=8, messages=PROMPT)
        second = await create(model=MODEL, max_tokens=8, messages=PROMPT)
        with pytest.raises(anthropic.RateLimitError) as info:
            await create(model=MODEL, max_tokens=8, messages=PROMPT)

    assert first.headers["x-ratelimit-limit"] == "2"
    assert first.headers["x-ratelimit-remaining"] == "1"
    assert second.headers["x-ratelimit-remaining"] == "0"
    assert second.headers["x-ratelimit-reset"] == "1700000040"
    refused = info.value.response
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "30"
    assert refused.headers["x-ratelimit-limit"] == "2"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.headers["x-ratelimit-reset"] == "1700000040"
    body = info.value.body
    assert isinstance(body, dict)
    assert body["error"]["code"] == "RATE_LIMITED"
    # Other keys count in windows of their own (the master key: the /v1 default).
    for _ in range(3):
        await _ask(_client(gateway, MASTER_KEY))
    assert len(await gateway.logs()) == 5


async def test_api_limit_of_the_setting_covers_every_v1_route(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    await _channel(gateway, upstreams)
    codex_up = await upstreams(default=responses_json_reply(text="r"))
    await gateway.add_channel("responses", "r", codex_up.url, ["sk-proj-r"])
    await gateway.set_setting(
        "ratelimit", json.dumps({"api": {"enabled": True, "requestsPerMinute": 4}})
    )
    plain = await gateway.add_key("laptop")  # RPM 0: the setting's limit applies
    other = await gateway.add_key("desktop")
    own = await gateway.add_key("fast", rate_limit_rpm=6)  # its own RPM wins
    gateway.rt.rate_limiter._clock = lambda: FIXED_NOW  # one fixed minute: no window rollover
    headers = {"x-api-key": plain}
    claude_body = {"model": MODEL, "max_tokens": 8, "messages": PROMPT}
    codex_body = {"model": "gpt-5-codex", "input": "hi"}
    async with http_client() as http:
        answers = [
            await http.post(gateway.url + "/v1/messages", json=claude_body, headers=headers),
            await http.post(
                gateway.url + "/v1/messages/count_tokens", json=claude_body, headers=headers
            ),
            await http.post(gateway.url + "/v1/responses", json=codex_body, headers=headers),
            await http.get(gateway.url + "/v1/models", headers=headers),
        ]
        models = await http.get(gateway.url + "/v1/models", headers=headers)
        own_answer = await http.get(gateway.url + "/v1/models", headers={"x-api-key": own})

    assert [r.status_code for r in answers] == [200, 200, 200, 200]
    assert {r.headers["x-ratelimit-limit"] for r in answers} == {"4"}
    assert [r.headers["x-ratelimit-remaining"] for r in answers] == ["3", "2", "1", "0"]
    assert {r.headers["x-ratelimit-reset"] for r in answers} == {"1700000040"}
    assert models.status_code == 429
    assert models.headers["retry-after"] == "30"
    assert models.json()["error"]["code"] == "RATE_LIMITED"
    assert own_answer.headers["x-ratelimit-limit"] == "6"
    # Refused in each endpoint's own error format.
    with pytest.raises(anthropic.RateLimitError) as claude_info:
        await _ask(_client(gateway, plain))
    claude_error = claude_info.value.body
    assert isinstance(claude_error, dict)
    assert claude_error["error"]["type"] == "rate_limit_error"
    assert claude_error["error"]["code"] == "RATE_LIMITED"
    assert claude_info.value.response.headers["retry-after"] == "30"
    async with codex_client(gateway, plain) as codex:
        with pytest.raises(openai.RateLimitError) as codex_info:
            await codex.responses.create(model="gpt-5-codex", input="hi")
    assert (codex_info.value.type, codex_info.value.code) == ("rate_limit_error", "RATE_LIMITED")
    assert codex_info.value.response.headers["x-ratelimit-remaining"] == "0"
    # Each key has a window of its own.
    assert await _ask(_client(gateway, other)) == "a"
    assert len(codex_up.requests) == 1


async def test_default_api_limit_covers_the_master_key(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    await _channel(gateway, upstreams)
    gateway.rt.rate_limiter._clock = lambda: FIXED_NOW
    async with _client(gateway, MASTER_KEY) as client:
        sent = await client.messages.with_raw_response.create(
            model=MODEL, max_tokens=8, messages=PROMPT
        )
    async with http_client() as http:
        models = await http.get(gateway.url + "/v1/models", headers={"x-api-key": MASTER_KEY})

    assert sent.headers["x-ratelimit-limit"] == "100"  # the `api` default of the setting
    assert sent.headers["x-ratelimit-remaining"] == "99"
    assert models.headers["x-ratelimit-limit"] == "100"
    assert models.headers["x-ratelimit-remaining"] == "98"


async def test_disabled_api_limit_leaves_only_key_limits(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    await _channel(gateway, upstreams)
    await gateway.set_setting(
        "ratelimit", json.dumps({"api": {"enabled": False, "requestsPerMinute": 1}})
    )
    slow = await gateway.add_key("slow", rate_limit_rpm=1)
    gateway.rt.rate_limiter._clock = lambda: FIXED_NOW
    async with http_client() as http:
        free = [
            await http.get(gateway.url + "/v1/models", headers={"x-api-key": MASTER_KEY})
            for _ in range(3)
        ]
        limited = [
            await http.get(gateway.url + "/v1/models", headers={"x-api-key": slow})
            for _ in range(2)
        ]

    assert [r.status_code for r in free] == [200, 200, 200]
    assert all("x-ratelimit-limit" not in r.headers for r in free)
    assert [r.status_code for r in limited] == [200, 429]


@pytest.mark.gateway_env(MAX_REQUEST_BODY_MB="1")
async def test_body_over_limit_is_413(gateway: Running, upstreams: UpstreamFactory) -> None:
    up = await upstreams(default=messages_json_reply())
    await gateway.add_channel("messages", "a", up.url, ["sk-ant-a"])
    message = {"role": "user", "content": "x" * (1024 * 1024)}
    big = json.dumps({"model": MODEL, "max_tokens": 8, "messages": [message]})

    async def chunked() -> AsyncIterator[bytes]:
        for i in range(0, len(big), 65536):
            yield big[i : i + 65536].encode()

    headers = {"x-api-key": MASTER_KEY, "content-type": "application/json"}
    async with http_client() as http:
        sized = await http.post(gateway.url + "/v1/messages", content=big, headers=headers)
        streamed = await http.post(gateway.url + "/v1/messages", content=chunked(), headers=headers)
        small = await http.post(
            gateway.url + "/v1/messages",
            json={"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]},
            headers=headers,
        )

    for resp in (sized, streamed):
        assert resp.status_code == 413
        assert resp.json()["error"]["type"] == "request_too_large"
        assert resp.json()["error"]["message"] == "request body is larger than 1 MB"
    assert small.status_code == 200
    assert len(up.requests) == 1


async def test_malformed_json_is_400_in_each_vendor_shape(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    await _channel(gateway, upstreams)
    headers = {"x-api-key": MASTER_KEY, "content-type": "application/json"}
    async with http_client() as http:
        claude = await http.post(gateway.url + "/v1/messages", content=b"{nope", headers=headers)
        codex = await http.post(gateway.url + "/v1/responses", content=b"{nope", headers=headers)
        no_model = await http.post(gateway.url + "/v1/messages", content=b"{}", headers=headers)

    assert claude.status_code == 400
    claude_body = claude.json()
    assert claude_body["type"] == "error"
    assert claude_body["error"]["type"] == "invalid_request_error"
    assert claude_body["error"]["message"].startswith("request body is not valid JSON")
    assert codex.status_code == 400
    codex_error = codex.json()["error"]
    assert set(codex_error) == {"message", "type", "param", "code"}
    assert codex_error["type"] == "invalid_request_error"
    assert codex_error["message"].startswith("request body is not valid JSON")
    assert no_model.status_code == 400
    assert no_model.json()["error"]["message"] == "'model' is required"
    assert await gateway.logs() == []


async def test_unknown_v1_path_is_404_json(gateway: Running) -> None:
    async with http_client() as http:
        resp = await http.post(gateway.url + "/v1/foo", json={})
        nested = await http.get(gateway.url + "/v1/foo/bar?x=1")

    for r in (resp, nested):
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/json")
        assert r.json()["error"]["type"] == "not_found_error"
    assert resp.json()["error"]["message"] == "API endpoint not found: POST /v1/foo"


async def test_wrong_method_on_a_v1_route_is_the_unknown_path_404(gateway: Running) -> None:
    async with http_client() as http:
        unknown = await http.get(gateway.url + "/v1/messages/nope")
        answers = {
            ("GET", "/v1/messages"): await http.get(gateway.url + "/v1/messages"),
            ("GET", "/v1/messages/count_tokens"): await http.get(
                gateway.url + "/v1/messages/count_tokens"
            ),
            ("POST", "/v1/models"): await http.post(gateway.url + "/v1/models", json={}),
            ("GET", "/v1/responses"): await http.get(
                gateway.url + "/v1/responses", headers={"x-api-key": MASTER_KEY}
            ),
            ("DELETE", "/v1/responses"): await http.delete(gateway.url + "/v1/responses"),
        }

    def claude_404(message: str) -> dict[str, object]:
        error = {"type": "not_found_error", "message": message, "code": "NOT_FOUND"}
        return {"type": "error", "error": error}

    assert unknown.status_code == 404
    assert unknown.json() == claude_404("API endpoint not found: GET /v1/messages/nope")
    for (method, path), r in answers.items():
        message = f"API endpoint not found: {method} {path}"
        assert r.status_code == 404, (method, path, r.text)
        assert r.headers["content-type"] == unknown.headers["content-type"]
        assert "allow" not in r.headers
        if path == "/v1/responses":
            error = {"message": message, "type": "not_found_error", "param": None}
            assert r.json() == {"error": {**error, "code": "NOT_FOUND"}}
        else:
            assert r.json() == claude_404(message)
