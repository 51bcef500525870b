"""The benchmarks' upstream answers the test double's replies, byte for byte."""

from __future__ import annotations

import http.client
import subprocess
import sys
from pathlib import Path

import pytest

from bench.fast_upstream import reply_bytes
from tests.fakes.upstream import messages_json_reply, messages_sse_reply


@pytest.mark.parametrize("mode", ["messages-json", "messages-sse"])
def test_every_request_on_a_connection_gets_the_fixed_reply(mode: str) -> None:
    script = Path(__file__).resolve().parents[2] / "bench" / "fast_upstream.py"
    cmd = [sys.executable, str(script), "--mode", mode, "--max-seconds", "30"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[1]
        conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=10)
        json_mode = mode == "messages-json"
        expected = messages_json_reply() if json_mode else messages_sse_reply(deltas=44)
        for _ in range(3):  # keep-alive: one connection, several requests
            conn.request("POST", "/v1/messages", body=b'{"model": "m"}')
            resp = conn.getresponse()
            assert (resp.status, resp.read()) == (200, expected.body_bytes)
        assert reply_bytes(mode, 44) == expected.wire
    finally:
        proc.terminate()
        proc.wait(timeout=10)
