"""The neutral form every converter reads or writes.

A request decoder turns a client body into :class:`Request`; an encoder turns
a :class:`Request` into an upstream body. A response decoder turns an
upstream body into :class:`Response`; an encoder renders it for the client.
Stop reasons use the Messages API's names, the richest vocabulary of the four.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = (
    "ConversionError",
    "Document",
    "Image",
    "Message",
    "Part",
    "Reasoning",
    "Request",
    "Response",
    "Role",
    "StopReason",
    "Text",
    "Thinking",
    "Tool",
    "ToolCall",
    "ToolChoice",
    "ToolResult",
    "Usage",
    "budget_to_effort",
    "effort_to_budget",
    "obj",
)

StopReason = Literal["end_turn", "max_tokens", "tool_use", "stop_sequence", "refusal", "pause_turn"]
Role = Literal["user", "assistant"]


class ConversionError(ValueError):
    """A body could not be converted (the attempt fails, not the proxy)."""


@dataclass(slots=True)
class Text:
    text: str


@dataclass(slots=True)
class Image:
    """An image given inline (``data`` in base64) or by ``url``."""

    media_type: str = ""
    data: str = ""
    url: str = ""


@dataclass(slots=True)
class Document:
    """A document (PDF or plain text) given inline, by URL, or as ``text``."""

    media_type: str = ""
    data: str = ""
    url: str = ""
    text: str = ""
    title: str = ""


@dataclass(slots=True)
class Thinking:
    """Reasoning text; ``signature`` is opaque and only its issuer reads it.

    Signatures this package mints carry an origin prefix (``gemini:``,
    ``responses:``) so each encoder replays only what its API signed.
    """

    text: str = ""
    signature: str = ""
    redacted: bool = False


@dataclass(slots=True)
class ToolCall:
    """A model's call; ``arguments`` is the JSON text of ``input``."""

    id: str
    name: str
    arguments: str = "{}"


@dataclass(slots=True)
class ToolResult:
    call_id: str
    content: list[Text | Image] = field(default_factory=list)
    is_error: bool = False
    name: str = ""  # the called tool's name, filled in where the client omits it

    def text(self) -> str:
        """Return the textual content joined by newlines."""
        return "\n".join(p.text for p in self.content if isinstance(p, Text))


Part = Text | Image | Document | Thinking | ToolCall | ToolResult


@dataclass(slots=True)
class Message:
    role: Role
    parts: list[Part]


@dataclass(slots=True)
class Tool:
    """A function tool, or a server tool (``kind`` ``web_search``)."""

    name: str
    description: str = ""
    schema: dict[str, Any] = field(default_factory=dict)
    kind: Literal["function", "web_search"] = "function"


@dataclass(slots=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "tool"] = "auto"
    name: str = ""
    parallel: bool = True


@dataclass(slots=True)
class Reasoning:
    """Thinking settings: an effort level, a token budget, or both."""

    effort: str = ""  # low | medium | high | xhigh, or minimal/none
    budget: int = 0


@dataclass(slots=True)
class Request:
    model: str
    messages: list[Message]
    system: list[str] = field(default_factory=list)
    max_tokens: int = 0
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    reasoning: Reasoning | None = None
    user: str = ""
    stream: bool = False
    fast: bool = False  # Anthropic speed "fast": the priority tier elsewhere
    prompt_cache_key: str = ""


@dataclass(slots=True)
class Usage:
    """Token counts with Anthropic's meaning: ``input`` excludes cache reads."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0

    def merge(self, newer: Usage) -> None:
        """Take ``newer``'s counts, keeping ours where it reports zero.

        Streams report usage piecemeal (input at the start, output at the
        end); a later report's zero means "not told", not "none".
        """
        self.input_tokens = newer.input_tokens or self.input_tokens
        self.output_tokens = newer.output_tokens or self.output_tokens
        self.cache_read_tokens = newer.cache_read_tokens or self.cache_read_tokens
        self.cache_creation_tokens = newer.cache_creation_tokens or self.cache_creation_tokens
        self.reasoning_tokens = newer.reasoning_tokens or self.reasoning_tokens

    @classmethod
    def from_inclusive(cls, prompt: int, cached: int, output: int) -> Usage:
        """Return usage from an API whose prompt count includes cached tokens."""
        cached = min(max(cached, 0), max(prompt, 0))
        return cls(
            input_tokens=max(prompt - cached, 0), output_tokens=output, cache_read_tokens=cached
        )


@dataclass(slots=True)
class Response:
    id: str
    model: str
    parts: list[Text | Thinking | ToolCall]
    stop_reason: StopReason | None
    usage: Usage
    stop_sequence: str | None = None


_EFFORT_BUDGETS = (("low", 4096), ("medium", 16384))


def budget_to_effort(budget: int) -> str:
    """Return the effort level a thinking token budget stands for."""
    for effort, limit in _EFFORT_BUDGETS:
        if budget < limit:
            return effort
    return "high"


_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576, "xhigh": 32768}


def effort_to_budget(effort: str) -> int:
    """Return a thinking token budget for an effort level (0 for none)."""
    return _BUDGETS.get(effort, 8192 if effort != "none" else 0)


def obj(raw: Any) -> dict[str, Any]:
    """Return ``raw`` if it is a JSON object, else an empty one."""
    return raw if isinstance(raw, dict) else {}
