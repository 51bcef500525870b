"""The prompt-emulated tool-call parser (``openai_chat``)."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from ccbridge.convert.ir import Tool
from ccbridge.convert.toolprompt import ToolTextParser, new_trigger

TRIGGER = "<<CALL_abcdefabcdef>>"
TOOLS = [
    Tool(
        "Write",
        schema={
            "type": "object",
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        },
    ),
    Tool(
        "Run",
        schema={
            "type": "object",
            "properties": {"args": {"type": "array"}, "timeout": {"type": "integer"}},
        },
    ),
]


class Collect:
    def __init__(self) -> None:
        self.out: list[tuple[str, Any]] = []

    def _add(self, kind: str, value: Any) -> None:
        if self.out and self.out[-1][0] == kind and kind != "call":
            self.out[-1] = (kind, self.out[-1][1] + value)
        else:
            self.out.append((kind, value))

    def text(self, text: str) -> None:
        self._add("text", text)

    def thinking(self, text: str) -> None:
        self._add("thinking", text)

    def tool_call(self, name: str, arguments: str) -> None:
        self._add("call", (name, orjson.loads(arguments)))


CASES = {
    "plain text": (
        "Just text < and << and <<CALL_ no.",
        [("text", "Just text < and << and <<CALL_ no.")],
    ),
    "one call": (
        f'Writing.\n{TRIGGER}\n<invoke name="Write">\n<parameter name="path">/a.txt</parameter>\n'
        '<parameter name="content">\nline 1\n  line 2\n</parameter>\n</invoke>',
        [
            ("text", "Writing.\n"),
            ("call", ("Write", {"path": "/a.txt", "content": "line 1\n  line 2"})),
        ],
    ),
    "typed values and two calls": (
        f'{TRIGGER}<invoke name="Run"><parameter name="args">["-q", "x"]</parameter>'
        f'<parameter name="timeout"> 30 </parameter></invoke>\n{TRIGGER}\n<invoke name="Run">'
        '<parameter name="args">not json</parameter></invoke> tail',
        [
            ("call", ("Run", {"args": ["-q", "x"], "timeout": 30})),
            ("text", "\n"),
            ("call", ("Run", {"args": "not json"})),
            ("text", " tail"),
        ],
    ),
    "thinking then call": (
        f'<thinking>plan it</thinking>ok {TRIGGER}<invoke name="Write"></invoke>',
        [("thinking", "plan it"), ("text", "ok "), ("call", ("Write", {}))],
    ),
    "unfinished call at end is text": (
        f'Try {TRIGGER}\n<invoke name="Write">\n<parameter name="path">/x',
        [("text", f'Try {TRIGGER}\n<invoke name="Write">\n<parameter name="path">/x')],
    ),
    "trigger without invoke is text": (
        f"{TRIGGER} oops</invoke> more",
        [("text", f"{TRIGGER} oops</invoke> more")],
    ),
}


def _run(pieces: list[str], thinking: bool = True) -> list[tuple[str, Any]]:
    out = Collect()
    parser = ToolTextParser(out, trigger=TRIGGER, tools=TOOLS, thinking=thinking)
    for piece in pieces:
        parser.feed(piece)
    parser.close()
    return out.out


@pytest.mark.parametrize(("text", "expected"), CASES.values(), ids=CASES.keys())
def test_parse_whole_and_in_random_pieces(text: str, expected: list[tuple[str, Any]]) -> None:
    assert _run([text]) == expected
    rng = random.Random(19)
    for _ in range(60):
        cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(1, 12))))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        assert _run(pieces) == expected, cuts
    assert _run(list(text)) == expected


def test_thinking_tags_are_text_when_thinking_is_off() -> None:
    assert _run(["<thinking>x</thinking>"], thinking=False) == [("text", "<thinking>x</thinking>")]


def test_text_is_released_before_the_answer_ends() -> None:
    out = Collect()
    parser = ToolTextParser(out, trigger=TRIGGER, tools=TOOLS, thinking=False)
    parser.feed("Hello world, <<CA")
    assert out.out == [("text", "Hello world, ")]  # only a possible trigger start is held


def test_new_trigger_shape() -> None:
    trigger = new_trigger()
    assert trigger.startswith("<<CALL_") and trigger.endswith(">>") and len(trigger) == 21
