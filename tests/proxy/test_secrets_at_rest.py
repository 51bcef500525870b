"""No secret rests in the database: debug capture masks keys when it writes.

Traffic with debug capture on sends every kind of credential (master key,
managed keys in each header, a ``key=`` parameter, cookies); then every
column of every table is read (gzipped blobs unpacked) and searched for
each secret used. Upstream keys may rest only where they must: the
channel's own key list.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from ccbridge.app import create_app
from ccbridge.proxy.debuglog import BodyCapture, debug_row
from generated.catalog import EXPECTED
from generated.dao import Stmt
from generated.rows import RequestLogsRow
from tests.fakes.upstream import (
    anthropic_error,
    messages_json_reply,
    messages_sse_reply,
    responses_json_reply,
    responses_sse_reply,
)
from tests.proxy.conftest import (
    MASTER_KEY,
    Running,
    UpstreamFactory,
    claude_client,
    codex_client,
    http_client,
)

ANT_KEYS = ["sk-ant-rest-bad-0000000001", "sk-ant-rest-good-000000002"]
OAI_KEY = "sk-proj-rest-0000000000003"
PROMPT = [{"role": "user", "content": "hello"}]
# Where upstream keys must be kept to be used at all.
_KEY_COLUMNS = {("channels", "api_keys")}


async def _enable_debug(gateway: Running) -> None:
    await gateway.set_setting("debug_log", json.dumps({"enabled": True, "maxBodySize": 4096}))


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            pass
        yield data.decode("utf-8", "replace")
    elif value is not None:
        yield str(value)


async def _secrets_at_rest(gateway: Running, secrets: dict[str, str]) -> list[str]:
    """Return "table.column: secret name" for every secret found stored."""
    await gateway.flush()
    dialect = gateway.db.executor.dialect
    found = []
    async with gateway.db.raw_transaction(readonly=True) as ex:
        for table, spec in EXPECTED[dialect]["tables"].items():
            columns = list(spec["columns"])
            sql = f'SELECT {", ".join(columns)} FROM "{table}"'  # noqa: S608 (catalog names)
            for row in await ex.fetch_all(Stmt(f"scan.{table}", sql, False)):
                for column, value in zip(columns, row, strict=True):
                    for text in _texts(value):
                        for name, secret in secrets.items():
                            upstream = name.startswith("upstream")
                            if secret in text and not (
                                upstream and (table, column) in _KEY_COLUMNS
                            ):
                                found.append(f"{table}.{column}: {name}")
    return found


async def test_no_secret_is_stored_by_proxy_traffic(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    managed = await gateway.add_key("dev")
    other = await gateway.add_key("ops")
    cookie = "sess-cookie-secret-0000000004"
    ant = await upstreams(
        anthropic_error(401, "authentication_error", "invalid x-api-key"),
        default=messages_sse_reply(),
    )
    oai = await upstreams(default=responses_sse_reply())
    await gateway.add_channel("messages", "ant", ant.url, ANT_KEYS)
    await gateway.add_channel("responses", "oai", oai.url, [OAI_KEY])
    await _enable_debug(gateway)

    async with claude_client(gateway, key=managed) as claude:
        async with claude.messages.stream(
            model="claude-haiku-4-5", max_tokens=8, messages=PROMPT
        ) as s:
            await s.get_final_message()
    async with codex_client(gateway) as codex:  # the master key as a Bearer token
        async with codex.responses.stream(model="gpt-5-codex", input="hi") as s:
            await s.get_final_response()
    ant.enqueue(messages_json_reply())
    oai.enqueue(responses_json_reply())
    body = {"model": "claude-haiku-4-5", "max_tokens": 8, "messages": PROMPT}
    async with http_client() as http:
        sent = [
            await http.post(f"{gateway.url}/v1/messages?key={other}", json=body),
            await http.post(
                f"{gateway.url}/v1/responses",
                json={"model": "gpt-5-codex", "input": "hi"},
                headers={
                    "x-goog-api-key": other,
                    "proxy-authorization": f"Basic {MASTER_KEY}",
                    "cookie": f"session={cookie}",
                },
            ),
        ]
        await http.get(f"{gateway.url}/api/logs", headers={"x-api-key": MASTER_KEY})
    assert [r.status_code for r in sent] == [200, 200]
    await gateway.flush()
    assert await gateway.db.daos.request_debug_logs.count() == 4

    secrets = {
        "master key": MASTER_KEY,
        "managed key dev": managed,
        "managed key ops": other,
        "cookie": cookie,
        "upstream anthropic bad": ANT_KEYS[0],
        "upstream anthropic good": ANT_KEYS[1],
        "upstream openai": OAI_KEY,
    }
    assert await _secrets_at_rest(gateway, secrets) == []


async def test_rows_stored_unmasked_are_masked_at_next_start(gateway: Running) -> None:
    # A row as an earlier version wrote it: headers as sent, key in the path.
    row = RequestLogsRow(
        id="req-old-1", initial_time=datetime.now(UTC), provider="claude", model="m"
    )
    await gateway.db.daos.request_logs.insert(row)
    old = debug_row(
        log_id="req-old-1",
        path="/v1/messages",
        request_headers={},
        removed_headers=(),
        request_body=b"{}",
        response_status=200,
        response_headers=(),
        response=BodyCapture(64),
    )
    raw = {"x-api-key": MASTER_KEY, "Cookie": "a=b", "accept": "*/*"}
    old.request_headers = gzip.compress(json.dumps(raw).encode())
    old.request_path = f"/v1/messages?key={MASTER_KEY}&beta=true"
    await gateway.db.daos.request_debug_logs.insert(old)
    async with gateway.db.transaction() as tx:
        await tx.settings.delete("debug_headers_masked")  # stored before the repair existed

    again = create_app(gateway.gateway.settings)
    await again.start()
    await again.stop()

    stored = await gateway.db.daos.request_debug_logs.get("req-old-1")
    assert stored is not None
    headers = json.loads(gzip.decompress(stored.request_headers))
    assert headers == {"x-api-key": "test-mas...6789", "Cookie": "***", "accept": "*/*"}
    assert stored.request_path == "/v1/messages?key=test-mas...6789&beta=true"
    assert await _secrets_at_rest(gateway, {"master key": MASTER_KEY}) == []
