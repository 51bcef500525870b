"""Per-channel Responses options of spec §2.1, through a real gateway (both engines).

``responsesEncryptedReasoningMode`` (responses-pool ``responses`` channels):
``auto`` (the default) and ``always`` ask the upstream for encrypted
reasoning in ``include``, ``off`` leaves the body alone.
``continueThinkingEnabled`` (``openai-oauth``): the encrypted reasoning of
earlier turns goes back to the Codex backend; without it, it is dropped.
"""

from __future__ import annotations

import pytest

from tests.fakes.codex import FakeCodex
from tests.fakes.upstream import responses_responder
from tests.proxy.conftest import Running, UpstreamFactory, claude_client, codex_client

INPUT = [{"role": "user", "content": "hi"}]
ENCRYPTED = "reasoning.encrypted_content"


@pytest.mark.parametrize(
    ("mode", "include", "expected"),
    [
        ("", None, [ENCRYPTED]),
        ("always", ["file_search_call.results"], ["file_search_call.results", ENCRYPTED]),
        ("on", [ENCRYPTED], [ENCRYPTED]),
        ("off", None, None),
    ],
)
async def test_encrypted_reasoning_mode_sets_include(
    gateway: Running,
    upstreams: UpstreamFactory,
    mode: str,
    include: list[str] | None,
    expected: list[str] | None,
) -> None:
    up = await upstreams(responder=responses_responder)
    await gateway.add_channel(
        "responses", "r", up.url, ["sk-r"], responses_encrypted_reasoning_mode=mode
    )
    extra = {"include": include} if include is not None else {}
    async with codex_client(gateway) as client:
        await client.responses.create(model="gpt-5", input=INPUT, store=False, **extra)
    sent = up.requests[-1].json()
    assert sent.get("include") == expected
    assert (sent["model"], sent["input"], sent["store"]) == ("gpt-5", INPUT, False)


@pytest.mark.parametrize("enabled", [True, False])
async def test_continue_thinking_replays_codex_reasoning(gateway: Running, enabled: bool) -> None:
    async with FakeCodex() as codex:
        tokens = {**codex.issue(), "refresh_token": ""}  # static: no refresh in this test
        await gateway.add_channel(
            "messages",
            "chatgpt",
            codex.base_url,
            [],
            service_type="openai-oauth",
            oauth_tokens=tokens,
            continue_thinking_enabled=enabled,
        )
        async with claude_client(gateway) as client:
            await client.messages.create(
                model="gpt-5-codex",
                max_tokens=64,
                messages=[
                    {"role": "user", "content": "think"},
                    {
                        "role": "assistant",
                        "content": [
                            {"type": "thinking", "thinking": "t", "signature": "responses:ENC1"},
                            {"type": "text", "text": "done"},
                        ],
                    },
                    {"role": "user", "content": "again"},
                ],
            )
        (sent,) = codex.backend_requests
    reasoning = [i for i in sent.json()["input"] if i.get("type") == "reasoning"]
    if enabled:
        assert [i["encrypted_content"] for i in reasoning] == ["ENC1"]
    else:
        assert reasoning == []
