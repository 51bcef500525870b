"""What one Responses WebSocket remembers between its turns.

Codex (`codex-rs`, `responses_websocket.rs`) sends each turn as a
``response.create`` frame: the POST /v1/responses body without ``stream``,
plus ``type`` and optionally ``generate: false`` (a prewarm that generates
nothing). On a socket it reuses, it sends only the new input items with
``previous_response_id`` set to the last response of that socket, and
``store: false``: the server is expected to remember the last turn of the
connection. The gateway bridges each turn to an HTTP stream, so it keeps
that turn here (its whole input and its output items) and expands the
next request to the full conversation, which every channel can serve.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from ccbridge.proxy.jsonread import loads as json_loads

__all__ = ("Conversation", "Turn", "prewarm_events", "turn_request")


def turn_request(frame: dict[str, Any]) -> dict[str, Any]:
    """Return the POST /v1/responses body of a ``response.create`` frame."""
    body = {k: v for k, v in frame.items() if k not in ("type", "generate")}
    body["stream"] = True
    return body


def _items(value: object) -> list[Any]:
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    return list(value) if isinstance(value, list) else []


class Conversation:
    """The last turn of one socket: its full input and its output items."""

    __slots__ = ("_input", "_output", "last_id")

    def __init__(self) -> None:
        self.last_id = ""
        self._input: list[Any] = []
        self._output: list[Any] = []

    def expand(self, body: dict[str, Any]) -> dict[str, Any]:
        """Replace a ``previous_response_id`` of this socket by the history it stands for.

        An id this socket did not answer goes upstream unchanged (a
        stored response the upstream may know).
        """
        previous = body.get("previous_response_id")
        if not previous or previous != self.last_id:
            return body
        out = {k: v for k, v in body.items() if k != "previous_response_id"}
        out["input"] = [*self._input, *self._output, *_items(body.get("input"))]
        return out

    def begin(self, body: dict[str, Any]) -> Turn:
        """Return the recorder of a turn about to be served for ``body``."""
        return Turn(self, _items(body.get("input")))

    def remember(self, response_id: str, sent: list[Any], output: list[Any]) -> None:
        """Record a finished turn: the next one may continue from it."""
        self.last_id = response_id
        self._input = sent
        self._output = output


class Turn:
    """Output items and the response id, read off the events of one turn."""

    __slots__ = ("_conversation", "_items", "_sent")

    def __init__(self, conversation: Conversation, sent: list[Any]) -> None:
        self._conversation = conversation
        self._sent = sent
        self._items: list[Any] = []

    def observe(self, data: bytes) -> None:
        """Read one event; a completed response becomes the socket's last turn."""
        if b'"response.output_item.done"' not in data and b'"response.completed"' not in data:
            return  # PERF(proxy): deltas are most events; they hold nothing to keep
        try:
            event = json_loads(data)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        kind = event.get("type")
        if kind == "response.output_item.done" and isinstance(event.get("item"), dict):
            self._items.append(event["item"])
        elif kind == "response.completed" and isinstance(event.get("response"), dict):
            response = event["response"]
            output = response.get("output")
            items = output if isinstance(output, list) and output else self._items
            self._conversation.remember(str(response.get("id") or ""), self._sent, items)


def prewarm_events(body: dict[str, Any], conversation: Conversation) -> list[dict[str, Any]]:
    """Answer a ``generate: false`` frame: an empty completed response, no upstream call.

    Over a bridge there is nothing upstream to warm; the empty response
    only gives the next turn an id to continue from (its input is kept).
    """
    response_id = f"resp_ccbridge_{secrets.token_hex(12)}"
    response = {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": body.get("model", ""),
        "output": [],
        "usage": None,
    }
    conversation.remember(response_id, _items(body.get("input")), [])
    return [
        {"type": "response.created", "response": {**response, "status": "in_progress"}},
        {"type": "response.completed", "response": response},
    ]
