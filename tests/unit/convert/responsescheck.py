"""The Responses streaming grammar, for converted Responses streams."""

from __future__ import annotations

from typing import Any

from tests.unit.convert.streamcheck import events_of

__all__ = ("check_responses_stream", "responses_events")

_TERMINAL = {"response.completed", "response.incomplete", "response.failed"}
_ITEM_EVENTS = {
    "message": {
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
    },
    "reasoning": {
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
    },
    "function_call": {
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
    },
    "custom_tool_call": set(),
}


def responses_events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Return the ``(event, payload)`` pairs of a Responses SSE byte string."""
    return events_of(raw)


def check_responses_stream(
    events: list[tuple[str, dict[str, Any]]], *, finished: bool = True
) -> dict[str, Any]:
    """Fail unless ``events`` is a valid Responses stream; return the final response.

    created then in_progress; sequence numbers 0, 1, 2...; items opened at
    output_index 0, 1, 2... one at a time, their events naming the open item,
    each closed by output_item.done; one terminal event last, whose snapshot
    lists exactly the items that were done.
    """
    assert [name for name, _ in events[:2]] == ["response.created", "response.in_progress"], events[
        :2
    ]
    done_items: list[dict[str, Any]] = []
    open_item: dict[str, Any] | None = None
    for n, (name, payload) in enumerate(events):
        assert payload["type"] == name and payload["sequence_number"] == n, f"event {n}: {name}"
        if name in _TERMINAL:
            assert n == len(events) - 1, "events after the terminal event"
            assert open_item is None or name == "response.failed", "item left open"
            response = payload["response"]
            assert response["output"] == done_items, "snapshot output differs from the items done"
            assert response["status"] == name.removeprefix("response.")
            assert not finished or name != "response.failed"
            return dict(response)
        if name == "response.output_item.added":
            assert open_item is None, f"event {n}: item opened while another is open"
            assert payload["output_index"] == len(done_items), f"event {n}: output_index"
            open_item = payload["item"]
        elif name == "response.output_item.done":
            assert open_item is not None and payload["item"]["id"] == open_item["id"], f"event {n}"
            assert payload["item"]["type"] == open_item["type"]
            done_items.append(payload["item"])
            open_item = None
        elif name not in ("response.created", "response.in_progress"):
            assert open_item is not None, f"event {n}: {name} outside an item"
            assert name in _ITEM_EVENTS[open_item["type"]], (
                f"event {n}: {name} in a {open_item['type']}"
            )
            assert payload["item_id"] == open_item["id"] and payload["output_index"] == len(
                done_items
            )
    raise AssertionError("no terminal event")
