"""The Chat Completions stream grammar, for converted Chat streams."""

from __future__ import annotations

from typing import Any

import orjson

from ccbridge.convert.sse import SseParser

__all__ = ("chat_chunks", "check_chat_stream", "summarize_chat")


def chat_chunks(raw: bytes) -> list[Any]:
    """Return the data payloads of a Chat SSE byte string (``[DONE]`` as a string)."""
    parser = SseParser()
    out: list[Any] = []
    for name, data in parser.feed(raw) + parser.close():
        assert name == "", "Chat streams have no event names"
        out.append("[DONE]" if data == b"[DONE]" else orjson.loads(data))
    return out


def check_chat_stream(chunks: list[Any], *, finished: bool = True) -> None:
    """Fail unless ``chunks`` is a valid chat completion chunk stream.

    One id and model throughout, the role first, tool-call indexes opened in
    order 0, 1, 2 with an id and name, one finish chunk, then an optional
    usage chunk with empty choices, then ``[DONE]``; an error object ends it.
    """
    assert chunks, "empty stream"
    ids = {c["id"] for c in chunks if isinstance(c, dict) and "id" in c}
    assert len(ids) <= 1, f"ids differ: {ids}"
    opened = -1
    finished_at = None
    for n, chunk in enumerate(chunks):
        if chunk == "[DONE]":
            assert n == len(chunks) - 1 and finished_at is not None, (
                "[DONE] must end a finished stream"
            )
            return
        if "error" in chunk:
            assert n == len(chunks) - 1, "chunks after an error"
            assert not finished
            return
        assert chunk["object"] == "chat.completion.chunk"
        if not chunk["choices"]:
            assert finished_at is not None and "usage" in chunk, (
                f"chunk {n}: usage chunk before finish"
            )
            continue
        assert finished_at is None, f"chunk {n}: content after the finish chunk"
        choice = chunk["choices"][0]
        delta = choice["delta"]
        assert ("role" in delta) == (n == 0), f"chunk {n}: role only in the first chunk"
        for call in delta.get("tool_calls", ()):
            if "id" in call:
                assert call["index"] == opened + 1 and call["function"]["name"], (
                    f"chunk {n}: {call}"
                )
                opened += 1
            else:
                assert 0 <= call["index"] <= opened, f"chunk {n}: arguments for unopened call"
        if choice["finish_reason"] is not None:
            assert choice["finish_reason"] in ("stop", "length", "tool_calls", "content_filter")
            finished_at = n
    assert not finished, "stream did not end with [DONE]"


def summarize_chat(chunks: list[Any]) -> dict[str, Any]:
    """Return the joined content, reasoning and tool calls, finish and usage."""
    out: dict[str, Any] = {}
    calls: list[dict[str, Any]] = []
    for chunk in chunks:
        if chunk == "[DONE]":
            continue
        if "error" in chunk:
            out["error"] = chunk["error"]
            continue
        out["model"] = chunk["model"]
        if "usage" in chunk and not chunk["choices"]:
            out["usage"] = chunk["usage"]
        for choice in chunk["choices"]:
            delta = choice["delta"]
            if delta.get("content"):
                out["content"] = out.get("content", "") + delta["content"]
            if delta.get("reasoning_content"):
                out["reasoning"] = out.get("reasoning", "") + delta["reasoning_content"]
            for call in delta.get("tool_calls", ()):
                if "id" in call:
                    calls.append(
                        {"id": call["id"], "name": call["function"]["name"], "arguments": ""}
                    )
                calls[call["index"]]["arguments"] += call["function"]["arguments"]
            if choice["finish_reason"]:
                out["finish_reason"] = choice["finish_reason"]
    if calls:
        out["tool_calls"] = [
            {**c, "arguments": orjson.loads(c["arguments"] or "{}")} for c in calls
        ]
    return out
