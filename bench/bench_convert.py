"""Stream conversion cost: Chat Completions SSE -> Messages SSE, in process.

One stream = role chunk, 50 content deltas, a finish chunk, a usage chunk and
[DONE], each SSE event arriving as its own network chunk (as upstreams flush
them). Side by side in one run, per stream:
  passthrough: the relay's own passthrough work on those bytes (SseUsageTap,
               OpenAI protocol) and nothing else;
  parse only:  the converter's SSE parser alone;
  converted:   MessagesBridge.stream_converter(): parse, decode, write Messages SSE.
Also the added time to first byte: feeding the first content chunk to a fresh
converter until its bytes come back, against the tap on the same chunk.
Also a non-stream chat completion converted vs parsed for usage only.
Targets (issue 18, whole proxy): converted >= 0.7x passthrough streams/s per
worker, >= 0.8x non-stream, added TTFB <= 1 ms; this measures the converter's
share of that (the HTTP work around it is the same on both paths).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ccbridge.convert import BridgeOptions, MessagesBridge  # noqa: E402
from ccbridge.proxy.usage import SseUsageTap, StreamProtocol  # noqa: E402

DELTAS = 50
ROUNDS = 5
STREAMS_PER_ROUND = 400
REQUEST = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 4096,
    "stream": True,
    "messages": [{"role": "user", "content": "Explain the borrow checker."}],
}


def _chunk(delta: dict[str, object], finish: str | None = None, usage: object = None) -> bytes:
    body = {
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "object": "chat.completion.chunk",
        "created": 1741570283,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_eb9dce56a8",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        "usage": usage,
    }
    return b"data: " + orjson.dumps(body) + b"\n\n"


def upstream_chunks() -> list[bytes]:
    """Return one Chat Completions stream as the network would deliver it."""
    words = "The borrow checker tracks who owns each value and for how long it lives"
    chunks = [_chunk({"role": "assistant", "content": "", "refusal": None})]
    chunks += [_chunk({"content": f" {words.split()[n % 13]}"}) for n in range(DELTAS)]
    chunks.append(_chunk({}, finish="stop"))
    usage = {
        "prompt_tokens": 1200,
        "completion_tokens": DELTAS,
        "total_tokens": 1200 + DELTAS,
        "prompt_tokens_details": {"cached_tokens": 1024},
    }
    chunks.append(b"data: " + orjson.dumps({"id": "x", "choices": [], "usage": usage}) + b"\n\n")
    chunks.append(b"data: [DONE]\n\n")
    return chunks


def passthrough(chunks: list[bytes], _: MessagesBridge) -> int:
    tap = SseUsageTap(StreamProtocol.OPENAI)
    for chunk in chunks:
        tap.feed(chunk)
    tap.finish()
    return 0


def parse_only(chunks: list[bytes], _: MessagesBridge) -> int:
    from ccbridge.convert.sse import SseParser

    parser = SseParser()
    n = 0
    for chunk in chunks:
        n += len(parser.feed(chunk))
    return n


def converted(chunks: list[bytes], bridge: MessagesBridge) -> int:
    conv = bridge.stream_converter()
    out = 0
    for chunk in chunks:
        out += len(conv.feed(chunk))
    out += len(conv.close())
    assert conv.terminal
    return out


def rates(
    fns: dict[str, Callable[[list[bytes], MessagesBridge], int]],
    chunks: list[bytes],
    bridge: MessagesBridge,
) -> dict[str, float]:
    """Return each function's best streams/s, rounds interleaved (the CPU is shared)."""
    best = dict.fromkeys(fns, 0.0)
    for _ in range(ROUNDS):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(STREAMS_PER_ROUND):
                fn(chunks, bridge)
            best[name] = max(best[name], STREAMS_PER_ROUND / (time.perf_counter() - start))
    return best


def first_byte_us(chunks: list[bytes], bridge: MessagesBridge, convert: bool) -> float:
    """Return the median µs from the first content chunk in to bytes out."""
    samples = []
    for _ in range(2000):
        if convert:
            conv = bridge.stream_converter()
            conv.feed(chunks[0])
            start = time.perf_counter()
            out = conv.feed(chunks[1])
            samples.append(time.perf_counter() - start)
            assert out
        else:
            tap = SseUsageTap(StreamProtocol.OPENAI)
            tap.feed(chunks[0])
            start = time.perf_counter()
            tap.feed(chunks[1])
            samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def chat_completion() -> bytes:
    """Return a non-stream chat completion with the same text and usage."""
    text = "".join(
        orjson.loads(c[6:])["choices"][0]["delta"]["content"] for c in upstream_chunks()[1:51]
    )
    body = {
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "object": "chat.completion",
        "created": 1741570283,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": 1200,
            "completion_tokens": DELTAS,
            "total_tokens": 1200 + DELTAS,
        },
    }
    return orjson.dumps(body)


def nonstream_rates(bridge: MessagesBridge, raw: bytes) -> tuple[float, float]:
    """Return bodies/s for passthrough (parse for usage) and conversion."""
    best_pass = best_conv = 0.0
    n = STREAMS_PER_ROUND * 10
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(n):
            orjson.loads(raw).get("usage")
        best_pass = max(best_pass, n / (time.perf_counter() - start))
        start = time.perf_counter()
        for _ in range(n):
            bridge.response(raw)
        best_conv = max(best_conv, n / (time.perf_counter() - start))
    return best_pass, best_conv


def main() -> None:
    chunks = upstream_chunks()
    events = len(chunks)
    bridge = MessagesBridge(
        "openai", REQUEST, model="gpt-4o", options=BridgeOptions(message_id="msg_bench")
    )
    out = converted(chunks, bridge)
    print(f"stream: {events} upstream events, {sum(map(len, chunks))} bytes in, {out} bytes out")
    fns = {"passthrough": passthrough, "parse only": parse_only, "converted": converted}
    measured = rates(fns, chunks, bridge)
    for name, per_s in measured.items():
        us = 1e6 / per_s
        print(
            f"{name:12s} {per_s:9.0f} streams/s  {us:7.1f} µs/stream  {us / events:5.2f} µs/event"
        )
    ratio = measured["converted"] / measured["passthrough"]
    print(f"converted / passthrough (converter alone): {ratio:.2f}x")
    plain, conv = nonstream_rates(bridge, chat_completion())
    print(
        f"non-stream: passthrough (parse for usage) {1e6 / plain:.1f} µs/body, "
        f"converted {1e6 / conv:.1f} µs/body, {1e6 / conv - 1e6 / plain:.1f} µs added per request"
    )
    tap_us = first_byte_us(chunks, bridge, convert=False)
    conv_us = first_byte_us(chunks, bridge, convert=True)
    print(
        f"first content chunk: passthrough tap {tap_us:.1f} µs, converter {conv_us:.1f} µs, "
        f"added {conv_us - tap_us:.1f} µs (target <= 1000 µs)"
    )


if __name__ == "__main__":
    main()
