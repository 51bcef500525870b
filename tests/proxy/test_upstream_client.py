"""Tests for ccbridge.upstream.client against the fake upstream."""

from __future__ import annotations

import asyncio
import gzip
import logging
import shutil
import socket
import ssl
import subprocess
import time
import traceback
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ccbridge.upstream.client import (
    DEFAULT_MESSAGES_USER_AGENT,
    DEFAULT_RESPONSES_USER_AGENT,
    DEFAULT_STRIP_PATTERNS,
    OutboundHeaders,
    StripRules,
    UpstreamClient,
    UpstreamUnavailable,
    auth_header,
    build_outbound_headers,
    chat_url,
    claude_url,
    filter_response_headers,
    gemini_url,
    resolve_user_agent,
    responses_url,
    user_agent_version,
)
from tests.fakes.upstream import (
    CloseAfter,
    FakeUpstream,
    Hang,
    JsonReply,
    SseReply,
    messages_json_reply,
    messages_sse_reply,
    responses_sse_reply,
)

ANT_KEY = "sk-ant-api03-SECRET0123456789abcdef"
OAI_KEY = "sk-proj-SECRETopenai0123456789"
CLAUDE_UA = "claude-cli/2.1.30 (external, cli)"

CLIENT_HEADERS = {
    "host": "ccbridge.local:3000",
    "content-type": "application/json",
    "content-length": "17",
    "accept": "application/json",
    "accept-encoding": "gzip, br",
    "anthropic-version": "2023-06-01",
    "anthropic-beta": "prompt-caching-2024-07-31",
    "x-api-key": "sk-proxy-client-key-0000000000000000",
    "authorization": "Bearer sk-proxy-client-key-0000000000000000",
    "user-agent": CLAUDE_UA,
    "connection": "keep-alive, x-hop",
    "x-hop": "1",
    "te": "trailers",
    "cf-ray": "8a1b2c3d4e5f-AMS",
    "cf-ipcountry": "NL",
    "x-forwarded-for": "203.0.113.9",
    "x-forwarded-port": "443",
    "x-real-ip": "203.0.113.9",
    "x-claude-code-session-id": "9f8e7d6c",
}


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as up:
        yield up


@pytest.fixture
async def client() -> AsyncIterator[UpstreamClient]:
    upstream_client = UpstreamClient(connect_timeout=2.0)
    await upstream_client.open()
    yield upstream_client
    await upstream_client.close()


def _headers(api_key: str = ANT_KEY, **kwargs: object) -> OutboundHeaders:
    rules = StripRules.compile(DEFAULT_STRIP_PATTERNS)
    return build_outbound_headers(
        CLIENT_HEADERS, api_key=api_key, ua_family="messages", strip_rules=rules, **kwargs
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _assert_no_secret(ex: BaseException, *secrets: str) -> None:
    rendered = [str(ex), repr(ex), "".join(traceback.format_exception(ex))]
    context = ex.__context__
    while context is not None:  # even the suppressed aiohttp error is clean
        rendered += [str(context), repr(context)]
        context = context.__context__
    for secret in secrets:
        assert all(secret not in text for text in rendered)
    assert ex.__cause__ is None and ex.__suppress_context__


# ---------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("base", "path", "query", "expected"),
    [
        ("https://api.anthropic.com", "/v1/messages", "", "https://api.anthropic.com/v1/messages"),
        ("https://api.anthropic.com/", "/v1/messages", "", "https://api.anthropic.com/v1/messages"),
        ("https://gw.example/api", "/v1/messages", "", "https://gw.example/api/v1/messages"),
        ("https://gw.example/api/v1", "/v1/messages", "", "https://gw.example/api/v1/messages"),
        ("https://gw.example/v1/", "/v1/messages", "", "https://gw.example/v1/messages"),
        ("https://gw.example/v2", "/v1/messages", "", "https://gw.example/v2/messages"),
        ("https://gw.example/v1beta", "/v1/messages", "", "https://gw.example/v1beta/messages"),
        ("https://gw.example/v2alpha//", "/v1/messages", "", "https://gw.example/v2alpha/messages"),
        ("https://gw.example/vendor", "/v1/messages", "", "https://gw.example/vendor/v1/messages"),
        ("https://gw.example/v1x2", "/v1/messages", "", "https://gw.example/v1x2/v1/messages"),
        ("https://gw.example/V1", "/v1/messages", "", "https://gw.example/V1/v1/messages"),
        (
            "https://api.anthropic.com",
            "/v1/messages/count_tokens",
            "",
            "https://api.anthropic.com/v1/messages/count_tokens",
        ),
        (
            "https://api.anthropic.com",
            "/v1/messages",
            "beta=true",
            "https://api.anthropic.com/v1/messages?beta=true",
        ),
        (
            "https://api.anthropic.com",
            "/v1/messages",
            "key=sk-proxy&beta=true&k%65y=x&monkey=1&keys=2",
            "https://api.anthropic.com/v1/messages?beta=true&monkey=1&keys=2",
        ),
        (
            "https://api.anthropic.com",
            "/v1/messages",
            "key=sk-proxy",
            "https://api.anthropic.com/v1/messages",
        ),
        (  # the name percent-encoded in full: no "key" in the raw text
            "https://api.anthropic.com",
            "/v1/messages",
            "%6B%65%79=sk-proxy&beta=true",
            "https://api.anthropic.com/v1/messages?beta=true",
        ),
    ],
)
def test_claude_url(base: str, path: str, query: str, expected: str) -> None:
    assert claude_url(base, path, query) == expected


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://api.openai.com", "https://api.openai.com/v1/responses"),
        ("https://api.openai.com/v1", "https://api.openai.com/v1/responses"),
        ("https://gw.example/openai/v1/", "https://gw.example/openai/v1/responses"),
        ("https://gw.example/openai", "https://gw.example/openai/v1/responses"),
    ],
)
def test_responses_url(base: str, expected: str) -> None:
    assert responses_url(base) == expected


# ------------------------------------------------------------- headers


def test_auth_header_by_key_prefix() -> None:
    assert auth_header(ANT_KEY) == ("x-api-key", ANT_KEY)
    assert auth_header(OAI_KEY) == ("Authorization", f"Bearer {OAI_KEY}")
    for bad in ("", "sk-ant-with space", "sk-ant-x\r\nX-Evil: 1"):
        with pytest.raises(ValueError) as info:
            auth_header(bad)
        assert bad not in str(info.value) or not bad


def test_outbound_headers_drop_and_keep() -> None:
    out = _headers()
    sent = dict((name.lower(), value) for name, value in out.pairs)
    assert sent == {
        "content-type": "application/json",
        "accept": "application/json",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "prompt-caching-2024-07-31",
        "x-claude-code-session-id": "9f8e7d6c",
        "x-api-key": ANT_KEY,
        "user-agent": CLAUDE_UA,
        "accept-encoding": "identity",
    }
    assert set(out.removed) == {
        "host",
        "content-length",
        "accept-encoding",
        "x-api-key",
        "authorization",
        "connection",
        "x-hop",
        "te",
        "cf-ray",
        "cf-ipcountry",
        "x-forwarded-for",
        "x-forwarded-port",
        "x-real-ip",
    }
    assert out.client_user_agent_valid and out.user_agent == CLAUDE_UA


def test_outbound_headers_bearer_key_and_pairs_input() -> None:
    pairs = [("Authorization", "Bearer client"), ("X-Goog-Api-Key", "client"), ("Accept", "*/*")]
    out = build_outbound_headers(pairs, api_key=OAI_KEY, ua_family="responses")
    assert out.pairs == (
        ("Accept", "*/*"),
        ("Authorization", f"Bearer {OAI_KEY}"),
        ("User-Agent", DEFAULT_RESPONSES_USER_AGENT),
        ("Accept-Encoding", "identity"),
    )


def test_strip_rules_never_remove_gateway_headers() -> None:
    rules = StripRules.compile(["x-api-*", "User-Agent", "authorization", "accept-*"])
    out = build_outbound_headers(
        {"x-api-version": "1", "accept-language": "en"},
        api_key=ANT_KEY,
        ua_family="messages",
        strip_rules=rules,
    )
    names = [name.lower() for name, _ in out.pairs]
    assert names == ["x-api-key", "user-agent", "accept-encoding"]
    assert out.removed == ("x-api-version", "accept-language")


def test_overrides_replace_same_name() -> None:
    out = _headers(overrides={"Accept": "text/event-stream"})
    accepts = [value for name, value in out.pairs if name.lower() == "accept"]
    assert accepts == ["text/event-stream"]


def test_outbound_headers_repr_hides_values() -> None:
    out = _headers()
    assert ANT_KEY not in repr(out) and "x-api-key" in repr(out)
    assert ANT_KEY not in str(out)


@pytest.mark.parametrize(
    ("patterns", "name", "expected"),
    [
        (DEFAULT_STRIP_PATTERNS, "CF-Connecting-IP", True),
        (DEFAULT_STRIP_PATTERNS, "cf-ray", True),
        (DEFAULT_STRIP_PATTERNS, "x-forwarded-proto", True),
        (DEFAULT_STRIP_PATTERNS, "x-forwarded", False),
        (DEFAULT_STRIP_PATTERNS, "xcf-ray", False),
        (["X-Trace-??"], "x-trace-id", True),
        (["X-Trace-??"], "x-trace-ids", False),
        (["x-[ab]-id"], "X-B-Id", True),
        (["", "  "], "anything", False),
        ([], "cf-ray", False),
    ],
)
def test_strip_rules_globs(patterns: list[str], name: str, expected: bool) -> None:
    assert StripRules.compile(patterns).matches(name) is expected


def test_strip_rules_decision_cache_is_bounded() -> None:
    rules = StripRules.compile(DEFAULT_STRIP_PATTERNS)
    assert rules.classify("CF-Ray") == ("cf-ray", True)
    assert rules.classify("Anthropic-Beta") == ("anthropic-beta", False)
    assert rules.classify("Host") == ("host", True)
    for i in range(3000):
        assert rules.classify(f"X-Made-Up-{i}") == (f"x-made-up-{i}", False)
    assert len(rules._decisions) <= 1024
    assert rules == StripRules.compile(DEFAULT_STRIP_PATTERNS)  # cache is not state


@pytest.mark.parametrize(
    ("incoming", "family", "fallback", "expected"),
    [
        ("  claude-cli/2.1.30 (external, cli) ", "messages", None, (CLAUDE_UA, True)),
        ("Claude-CLI/3", "messages", None, ("Claude-CLI/3", True)),
        ("curl/8.5.0", "messages", None, (DEFAULT_MESSAGES_USER_AGENT, False)),
        (
            None,
            "messages",
            "claude-cli/2.2.0 (external, cli)",
            ("claude-cli/2.2.0 (external, cli)", False),
        ),
        ("", "messages", "not-a-cli/1", (DEFAULT_MESSAGES_USER_AGENT, False)),
        ("claude-cli/x.y", "messages", None, (DEFAULT_MESSAGES_USER_AGENT, False)),
        (
            "codex_cli_rs/0.80.0 (Mac OS 15.1; arm64)",
            "responses",
            None,
            ("codex_cli_rs/0.80.0 (Mac OS 15.1; arm64)", True),
        ),
        (
            "codex-tui/0.118.0 (Mac OS 26.3.1; arm64)",
            "responses",
            None,
            ("codex-tui/0.118.0 (Mac OS 26.3.1; arm64)", True),
        ),
        (CLAUDE_UA, "responses", None, (DEFAULT_RESPONSES_USER_AGENT, False)),
    ],
)
def test_resolve_user_agent(
    incoming: str | None, family: str, fallback: str | None, expected: tuple[str, bool]
) -> None:
    assert resolve_user_agent(incoming, family, fallback) == expected  # type: ignore[arg-type]


def test_user_agent_version() -> None:
    assert user_agent_version(DEFAULT_MESSAGES_USER_AGENT, "messages") == (2, 1, 12)
    assert user_agent_version("codex-tui/0.118.0", "responses") == (0, 118, 0)
    assert user_agent_version("claude-cli/", "messages") is None
    assert user_agent_version("xclaude-cli/1.0", "messages") is None


def test_filter_response_headers() -> None:
    headers = [
        ("Content-Type", "text/event-stream"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Length", "12"),
        ("Connection", "keep-alive, X-Internal"),
        ("Keep-Alive", "timeout=5"),
        ("X-Internal", "1"),
        ("Content-Encoding", "gzip"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("anthropic-ratelimit-requests-remaining", "49"),
    ]
    assert filter_response_headers(headers) == (
        ("Content-Type", "text/event-stream"),
        ("Content-Encoding", "gzip"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("anthropic-ratelimit-requests-remaining", "49"),
    )


# ------------------------------------------------------ over loopback


async def test_send_forwards_headers_body_and_query(
    upstream: FakeUpstream, client: UpstreamClient
) -> None:
    upstream.enqueue(messages_json_reply())
    url = claude_url(upstream.url, "/v1/messages", "beta=true&key=sk-proxy")
    body = b'{"model":"claude-sonnet-4-5","max_tokens":1}'
    async with await client.send("POST", url, _headers(), body, header_timeout=2) as resp:
        assert resp.status == 200
        assert await resp.read() == messages_json_reply().body_bytes
    (seen,) = upstream.requests
    assert (seen.method, seen.path, seen.query, seen.body) == (
        "POST",
        "/v1/messages",
        "beta=true",
        body,
    )
    assert seen.header("x-api-key") == ANT_KEY
    assert seen.header("authorization") is None
    assert seen.header("accept-encoding") == "identity"
    assert seen.header("user-agent") == CLAUDE_UA
    assert seen.header("host") == f"127.0.0.1:{upstream.port}"
    assert seen.header("content-length") == str(len(body))
    assert seen.header("content-type") == "application/json"
    assert not {"cf-ray", "x-forwarded-for", "x-hop", "te", "cookie"} & seen.header_names()


async def test_send_accepts_a_plain_mapping(upstream: FakeUpstream, client: UpstreamClient) -> None:
    upstream.enqueue(JsonReply({}))
    resp = await client.send("GET", upstream.url + "/p", {"X-Plain": "1"}, header_timeout=2)
    await resp.read()
    assert upstream.requests[0].header("x-plain") == "1"


async def test_send_bearer_key(upstream: FakeUpstream, client: UpstreamClient) -> None:
    upstream.enqueue(JsonReply({}))
    headers = build_outbound_headers({}, api_key=OAI_KEY, ua_family="responses")
    resp = await client.send("POST", responses_url(upstream.url), headers, b"{}", header_timeout=2)
    await resp.read()
    seen = upstream.requests[0]
    assert seen.path == "/v1/responses"
    assert seen.header("authorization") == f"Bearer {OAI_KEY}"
    assert seen.header("x-api-key") is None
    assert seen.header("content-type") is None  # nothing invented by aiohttp


async def test_encoded_body_passes_through_undecoded(
    upstream: FakeUpstream, client: UpstreamClient
) -> None:
    encoded = gzip.compress(b'{"ok":true}' * 50)
    upstream.enqueue(JsonReply(encoded, headers={"Content-Encoding": "gzip"}))
    resp = await client.send("POST", claude_url(upstream.url), _headers(), b"{}", header_timeout=2)
    assert await resp.read() == encoded
    assert resp.content_encoding == "gzip"
    names = {name.lower() for name, _ in resp.headers}
    assert "content-encoding" in names and "content-length" not in names
    assert resp.header("content-length") == str(len(encoded))
    resp.release()


async def test_stream_relay_preserves_bytes_and_pacing(
    upstream: FakeUpstream, client: UpstreamClient
) -> None:
    reply = messages_sse_reply(deltas=6, event_delay=0.02)
    upstream.enqueue(reply)
    started = time.perf_counter()
    resp = await client.send("POST", claude_url(upstream.url), _headers(), b"{}", header_timeout=2)
    assert resp.content_type == "text/event-stream; charset=utf-8"
    assert ("Transfer-Encoding", "chunked") not in resp.headers
    arrivals: list[float] = []
    chunks: list[bytes] = []
    async for chunk in resp.iter_chunks():
        arrivals.append(time.perf_counter() - started)
        chunks.append(chunk)
    assert b"".join(chunks) == reply.body_bytes
    assert len(chunks) >= 5  # relayed as they came, not buffered to the end
    assert arrivals[0] < arrivals[-1] - 0.1


async def test_responses_stream_relay_bytes(upstream: FakeUpstream, client: UpstreamClient) -> None:
    reply = responses_sse_reply(deltas=40)
    upstream.enqueue(reply)
    resp = await client.send(
        "POST", responses_url(upstream.url), _headers(OAI_KEY), b"{}", header_timeout=2
    )
    assert b"".join([c async for c in resp.iter_chunks()]) == reply.body_bytes


async def test_split_event_chunks_pass_through(
    upstream: FakeUpstream, client: UpstreamClient
) -> None:
    reply = SseReply([b"event: ping\nda", b'ta: {"type":"ping"}\n', b"\n"], event_delay=0.01)
    upstream.enqueue(reply)
    resp = await client.send("POST", claude_url(upstream.url), _headers(), b"{}", header_timeout=2)
    assert (
        b"".join([c async for c in resp.iter_chunks()]) == b'event: ping\ndata: {"type":"ping"}\n\n'
    )


async def test_broken_stream_raises_body_phase_after_relaying(
    upstream: FakeUpstream, client: UpstreamClient
) -> None:
    reply = messages_sse_reply(deltas=4)
    upstream.enqueue(CloseAfter(reply, reply.wire_length_through(3)))
    resp = await client.send("POST", claude_url(upstream.url), _headers(), b"{}", header_timeout=2)
    received = b""
    with pytest.raises(UpstreamUnavailable) as info:
        async for chunk in resp.iter_chunks():
            received += chunk
    assert info.value.phase == "body"
    assert received == b"".join(reply.payloads[:3])
    _assert_no_secret(info.value, ANT_KEY)


async def test_truncated_json_body_raises_on_read(
    upstream: FakeUpstream, client: UpstreamClient
) -> None:
    reply = messages_json_reply()
    upstream.enqueue(CloseAfter(reply, len(reply.wire) - 20))
    resp = await client.send("POST", claude_url(upstream.url), _headers(), b"{}", header_timeout=2)
    with pytest.raises(UpstreamUnavailable) as info:
        await resp.read()
    assert info.value.phase == "body"


async def test_header_timeout_fires(upstream: FakeUpstream, client: UpstreamClient) -> None:
    upstream.enqueue(Hang(seconds=10))
    started = time.perf_counter()
    with pytest.raises(UpstreamUnavailable) as info:
        await client.send("POST", claude_url(upstream.url), _headers(), b"{}", header_timeout=0.3)
    elapsed = time.perf_counter() - started
    assert 0.25 <= elapsed < 1.5
    assert info.value.phase == "headers"
    assert info.value.reason == "no response headers within 0.3s"
    _assert_no_secret(info.value, ANT_KEY)


async def test_slow_headers_within_timeout_succeed(
    upstream: FakeUpstream, client: UpstreamClient
) -> None:
    upstream.enqueue(JsonReply({"late": True}, delay=0.1))
    resp = await client.send("POST", claude_url(upstream.url), _headers(), b"{}", header_timeout=1)
    assert await resp.read() == b'{"late":true}'


async def test_connection_refused_never_leaks_key(
    client: UpstreamClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = claude_url(f"http://127.0.0.1:{_free_port()}")
    for key in (ANT_KEY, OAI_KEY):
        with pytest.raises(UpstreamUnavailable) as info:
            await client.send("POST", url, _headers(key), b"{}", header_timeout=2)
        assert info.value.phase == "connect"
        assert "127.0.0.1" in str(info.value)
        _assert_no_secret(info.value, key, key.removeprefix("sk-"))
    assert ANT_KEY not in caplog.text and OAI_KEY not in caplog.text


async def test_close_before_headers(upstream: FakeUpstream, client: UpstreamClient) -> None:
    upstream.enqueue(CloseAfter())
    with pytest.raises(UpstreamUnavailable) as info:
        await client.send("POST", claude_url(upstream.url), _headers(), b"{}", header_timeout=2)
    assert info.value.phase == "headers"
    _assert_no_secret(info.value, ANT_KEY)


async def test_keep_alive_reuse_and_partial_read_release(
    upstream: FakeUpstream, client: UpstreamClient
) -> None:
    upstream.default = messages_json_reply()
    for _ in range(3):
        async with await client.send(
            "POST", claude_url(upstream.url), _headers(), b"{}", header_timeout=2
        ) as resp:
            await resp.read()
    assert upstream.connections_opened == 1
    upstream.enqueue(messages_sse_reply(deltas=50, event_delay=0.005))
    resp = await client.send("POST", claude_url(upstream.url), _headers(), b"{}", header_timeout=2)
    async for _ in resp.iter_chunks():
        break  # abandon the stream early
    resp.release()
    async with await client.send(
        "POST", claude_url(upstream.url), _headers(), b"{}", header_timeout=2
    ) as resp:
        assert resp.status == 200 and await resp.read()
    assert upstream.connections_opened == 2


async def test_error_status_is_a_response_not_an_exception(
    upstream: FakeUpstream, client: UpstreamClient
) -> None:
    upstream.enqueue(JsonReply({"error": {"status": "RESOURCE_EXHAUSTED"}}, status=429))
    resp = await client.send("POST", claude_url(upstream.url), _headers(), b"{}", header_timeout=2)
    assert resp.status == 429 and b"RESOURCE_EXHAUSTED" in await resp.read()
    assert ANT_KEY not in repr(resp)


async def test_redirects_are_not_followed(upstream: FakeUpstream, client: UpstreamClient) -> None:
    upstream.enqueue(JsonReply(b"", status=307, headers={"Location": "/elsewhere"}))
    resp = await client.send("POST", claude_url(upstream.url), _headers(), b"{}", header_timeout=2)
    assert resp.status == 307 and resp.header("location") == "/elsewhere"
    assert len(upstream.requests) == 1


async def test_lifecycle() -> None:
    upstream_client = UpstreamClient()
    assert repr(upstream_client) == "<UpstreamClient new>"
    with pytest.raises(RuntimeError, match="not open"):
        await upstream_client.send("GET", "http://127.0.0.1:1/", (), header_timeout=1)
    await upstream_client.open()
    with pytest.raises(RuntimeError, match="already open"):
        await upstream_client.open()
    assert upstream_client.is_open
    await upstream_client.close()
    await upstream_client.close()
    assert repr(upstream_client) == "<UpstreamClient closed>"
    with pytest.raises(RuntimeError, match="closed"):
        await upstream_client.send("GET", "http://127.0.0.1:1/", (), header_timeout=1)


# ------------------------------------------------------------------ TLS


@pytest.fixture(scope="module")
def tls_server_context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available")
    folder: Path = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def test_insecure_skip_verify_per_request(
    tls_server_context: ssl.SSLContext, client: UpstreamClient
) -> None:
    async with FakeUpstream(default=messages_json_reply(), ssl_context=tls_server_context) as up:
        url = claude_url(up.url)
        with pytest.raises(UpstreamUnavailable) as info:
            await client.send("POST", url, _headers(), b"{}", header_timeout=2)
        assert info.value.phase == "connect" and "Certificate" in info.value.reason
        _assert_no_secret(info.value, ANT_KEY)
        resp = await client.send(
            "POST", url, _headers(), b"{}", header_timeout=2, insecure_skip_verify=True
        )
        assert resp.status == 200 and await resp.read()
        with pytest.raises(UpstreamUnavailable):  # the flag does not stick to the pool
            await client.send("POST", url, _headers(), b"{}", header_timeout=2)
    await asyncio.sleep(0)


@pytest.mark.parametrize(
    ("base", "query", "expected"),
    [
        ("https://g.example", "", "https://g.example/v1beta/models/m:generateContent"),
        (
            "https://g.example/",
            "alt=sse",
            "https://g.example/v1beta/models/m:generateContent?alt=sse",
        ),
        ("https://g.example/v1beta", "", "https://g.example/v1beta/models/m:generateContent"),
        ("https://g.example/v1", "", "https://g.example/v1/models/m:generateContent"),
        (
            "https://g.example/v1beta/models/",
            "",
            "https://g.example/v1beta/models/m:generateContent",
        ),
        ("https://g.example/proxy", "", "https://g.example/proxy/v1beta/models/m:generateContent"),
        (
            "https://g.example",
            "key=secret&alt=sse",
            "https://g.example/v1beta/models/m:generateContent?alt=sse",
        ),
        (
            "https://g.example",
            "alt=sse&%6Bey=secret",
            "https://g.example/v1beta/models/m:generateContent?alt=sse",
        ),
    ],
)
def test_gemini_url_normalises_base_and_drops_key(base: str, query: str, expected: str) -> None:
    assert gemini_url(base, "m:generateContent", query) == expected


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://api.openai.com", "https://api.openai.com/v1/chat/completions"),
        ("https://api.deepseek.com/v1/", "https://api.deepseek.com/v1/chat/completions"),
        (
            "https://open.bigmodel.cn/api/paas/v4",
            "https://open.bigmodel.cn/api/paas/v4/chat/completions",
        ),
    ],
)
def test_chat_url_takes_the_v1_rule(base: str, expected: str) -> None:
    assert chat_url(base) == expected
