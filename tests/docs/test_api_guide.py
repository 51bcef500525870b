"""docs/api.md cannot drift: every curl example runs against a live gateway.

One real gateway per engine (a fresh SQLite file; a fresh PostgreSQL
database) and one fake upstream over loopback that answers as Anthropic,
OpenAI Chat, Responses and Gemini do. The examples run in document order,
so state accumulates (a channel created above is listed below). The format
and its conventions are described in tests/docs/guide.py.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.admin.conftest import MASTER_KEY, NO_API_LIMIT
from tests.docs.guide import (
    GUIDE,
    GuideError,
    expand,
    mismatch,
    parse_curl,
    parse_guide,
    run_example,
    vendor_upstream,
)
from tests.proxy.conftest import Running


async def test_every_example_of_the_guide_answers_as_shown(guide_gateway: Running) -> None:
    examples = parse_guide(GUIDE.read_text(encoding="utf-8"))
    assert len(examples) >= 60, "the guide lost its examples"
    # The guide sends more /api requests a minute than the default per-address limit.
    await guide_gateway.set_setting("ratelimit", json.dumps(NO_API_LIMIT))
    env = {"CCBRIDGE": guide_gateway.url, "ADMIN_KEY": MASTER_KEY}
    async with vendor_upstream() as upstreams, httpx.AsyncClient(timeout=20) as client:
        for example in examples:
            await run_example(client, example, env, upstreams)


async def test_a_wrong_answer_or_status_fails_naming_its_example(guide_gateway: Running) -> None:
    keys, missing = parse_guide(
        "## Keys\n"
        '```sh\ncurl -s "$CCBRIDGE/api/keys" -H "x-api-key: $ADMIN_KEY"\n```\n'
        '```json\n{"keys": [], "total": 5}\n```\n'
        "## Nowhere\n"
        '```sh\ncurl -s "$CCBRIDGE/api/nowhere" -H "x-api-key: $ADMIN_KEY"\n```\n'
    )
    env = {"CCBRIDGE": guide_gateway.url, "ADMIN_KEY": MASTER_KEY}
    async with httpx.AsyncClient(timeout=20) as client:
        with pytest.raises(GuideError, match=r"line 2 \('Keys'\): \.total: expected 5, got 0"):
            await run_example(client, keys, env, {}, patience=0.2)
        with pytest.raises(GuideError, match=r"line 9 \('Nowhere'\): status 404"):
            await run_example(client, missing, env, {})


# -- the runner itself: a guide that is wrong must fail ---------------------------------


def test_an_answer_missing_a_key_or_value_fails() -> None:
    answer = {"id": "a1", "channel": {"name": "x", "keys": [1, 2]}}
    assert mismatch(answer, {"id": "…", "channel": {"keys": [1, 2]}}) is None
    assert mismatch(answer, {"channel": {"keys": [1, "…"]}}) is None
    assert mismatch(answer, {"channel": {"name": "y"}}) == ".channel.name: expected 'y', got 'x'"
    assert mismatch(answer, {"channel": {"keys": [1]}}) is not None
    assert mismatch(answer, {"other": 1}) == ".other: missing"
    assert mismatch({"n": True}, {"n": 1}) is not None
    assert mismatch({"key": "sk-abc"}, {"key": "sk-…"}) is None
    assert mismatch({"key": "pk-abc"}, {"key": "sk-…"}) is not None


def test_variables_expand_as_the_shell_does() -> None:
    env = {"CCBRIDGE": "http://h:1", "KEY": "a b"}
    assert expand('curl "$CCBRIDGE/api" -H "x: ${KEY}"', env) == 'curl "http://h:1/api" -H "x: a b"'
    assert expand('curl -d \'{"a": "$KEY"}\' $CCBRIDGE', env) == (
        'curl -d \'{"a": "$KEY"}\' http://h:1'
    )
    with pytest.raises(GuideError, match=r"\$MISSING is not set"):
        expand("curl $MISSING", env)


def test_the_curl_line_becomes_a_request() -> None:
    req = parse_curl(["curl", "-s", "-X", "PUT", "-H", "a: b", "-d", "{}", "http://h/x"])
    assert (req.method, req.url, req.headers, req.body) == (
        "PUT",
        "http://h/x",
        [("a", "b"), ("Content-Type", "application/x-www-form-urlencoded")],
        b"{}",
    )
    assert parse_curl(["curl", "-d", "{}", "http://h"]).method == "POST"
    with pytest.raises(GuideError, match="--insecure is not supported"):
        parse_curl(["curl", "--insecure", "http://h"])


def test_a_malformed_guide_names_the_line() -> None:
    with pytest.raises(GuideError, match="line 3: a sh block must hold exactly one curl"):
        parse_guide("# T\n\n```sh\nls -l\n```\n")
    with pytest.raises(GuideError, match="line 2: a json block without a curl"):
        parse_guide("# T\n```json\n{}\n```\n")
    with pytest.raises(GuideError, match="line 5: json block"):
        parse_guide("```sh\ncurl $CCBRIDGE\n```\n\n```json\n{nope\n```\n")
    (example,) = parse_guide(
        "## Keys\n```sh\ncurl $CCBRIDGE/api/keys \\\n  -d '{}'\n```\n```json\n{\"id\": 1}\n```\n"
        "<!-- save: KEY_ID=.id -->\n"
    )
    assert (example.heading, example.line, example.expected, example.saves) == (
        "Keys",
        2,
        {"id": 1},
        {"KEY_ID": ".id"},
    )
