"""Python source text for generated modules: literals, SQL, docstrings, formatting.

Generated code passes `ruff check` and `ruff format --check` like hand-written
code, with no line over `LINE_LENGTH`. ruff formats what it can (calls,
collections, signatures); what it cannot break (string literals, docstrings)
is written here already short: SQL as triple-quoted text wrapped at clause
boundaries and commas, long plain strings as implicit concatenations.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = (
    "LINE_LENGTH",
    "docstring",
    "format_python",
    "pylit",
    "pystr",
    "sql_lines",
    "sqllit",
)

LINE_LENGTH = 100  # as [tool.ruff] line-length in pyproject.toml
# A plain string literal longer than this becomes an implicit concatenation of
# pieces this long, which ruff keeps one per line when they do not fit together.
_PIECE = 80
# Top-level clauses a too-long one-line statement is broken before.
_CLAUSES = re.compile(r"\s(FROM|WHERE|VALUES|ON CONFLICT|RETURNING|SET|ORDER BY|LIMIT)\b")


def pystr(value: str) -> str:
    """Return a short double-quoted literal (the quote ruff prefers)."""
    return json.dumps(value, ensure_ascii=False)


def pylit(value: Any) -> str:
    """Return a Python literal of JSON-like data; long strings split into pieces."""
    if isinstance(value, str):
        if len(value) <= _PIECE:
            return pystr(value)
        return "(" + " ".join(pystr(p) for p in _pieces(value)) + ")"
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{pylit(k)}: {pylit(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        items = ", ".join(pylit(v) for v in value)
        if isinstance(value, tuple):
            return "(" + items + ("," if len(value) == 1 else "") + ")"
        return "[" + items + "]"
    raise TypeError(f"no literal for {type(value).__name__}")


def _pieces(text: str) -> Iterator[str]:
    """Yield consecutive pieces of text, each ending at a space where one is near."""
    while len(text) > _PIECE:
        cut = text.rfind(" ", _PIECE // 2, _PIECE) + 1 or _PIECE
        yield text[:cut]
        text = text[cut:]
    if text:
        yield text


def sqllit(sql: str, beside: int = 0) -> str:
    """Return SQL as a Python literal: short ones plain, others triple-quoted and wrapped.

    `beside` is how much else shares the literal's line (a dict key); the
    closing quotes and a comma follow the last SQL line, so lines are kept
    four characters short.
    """
    if "\n" not in sql and len(sql) + beside <= _PIECE + 8 and '"' not in sql:
        return pystr(sql)
    text = sql_lines(sql, LINE_LENGTH - 4).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if text.endswith('"'):
        text = text[:-1] + '\\"'
    return '"""\\\n' + text + '"""'


def sql_lines(sql: str, width: int = LINE_LENGTH) -> str:
    """Return SQL with every line at most `width` long where it can be broken.

    A too-long line is broken before its top-level clauses, then filled: a
    break goes after a comma where one is near, else at a space, never inside
    a quoted string or identifier, nor in a comment. Continuation lines are
    indented two spaces more than the line they continue. The text keeps its
    leading and trailing spaces (fragments are joined at run time).

    Whitespace outside quotes means the same to both engines, so wrapping
    never changes what a statement does.
    """
    return "\n".join(_wrap(line, width) for line in sql.split("\n"))


def _wrap(line: str, width: int) -> str:
    if len(line) <= width or "--" in line:
        return line
    margin = line[: len(line) - len(line.lstrip(" "))]
    body, tail = line[len(margin) :], ""
    if body.endswith(" "):
        body, tail = body.rstrip(" "), body[len(body.rstrip(" ")) :]
    clauses = _split_clauses(body)
    out = [_fill(clause, margin, margin + "  ", width) for clause in clauses]
    return "\n".join(out) + tail


def _outside_quotes(text: str) -> list[bool]:
    """Return, per character, whether it is outside quotes and at paren depth 0 or more."""
    flags, quote = [], ""
    for ch in text:
        if quote:
            flags.append(False)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            flags.append(False)
        else:
            flags.append(True)
    return flags


def _split_clauses(body: str) -> list[str]:
    free = _outside_quotes(body)
    depth, cuts = 0, []
    levels = []
    for i, ch in enumerate(body):
        if free[i] and ch == "(":
            depth += 1
        elif free[i] and ch == ")":
            depth -= 1
        levels.append(depth)
    for m in _CLAUSES.finditer(body):
        if free[m.start()] and levels[m.start()] == 0 and m.start() > 0:
            cuts.append(m.start())
    parts, last = [], 0
    for cut in cuts:
        parts.append(body[last:cut])
        last = cut + 1
    parts.append(body[last:])
    return [p for p in parts if p]


def _fill(text: str, first: str, rest: str, width: int) -> str:
    """Greedy-fill text: a line ends after a comma, or at a space when a unit is too long."""
    free = _outside_quotes(text)
    words, start = [], 0
    for i, ch in enumerate(text):
        if ch == " " and free[i]:
            words.append(text[start:i])
            start = i + 1
    words.append(text[start:])
    units: list[list[str]] = [[]]
    for word in words:
        units[-1].append(word)
        if word.endswith(","):
            units.append([])
    pieces: list[str] = []
    for unit in filter(None, units):
        whole = " ".join(unit)
        pieces.extend([whole] if len(rest) + len(whole) <= width else unit)
    lines, current = [], first + pieces[0]
    for piece in pieces[1:]:
        if len(current) + 1 + len(piece) > width:
            lines.append(current)
            current = rest + piece
        else:
            current += " " + piece
    lines.append(current)
    return "\n".join(lines)


def docstring(text: str, indent: int) -> str:
    """Return a docstring literal wrapped to fit at an indentation."""
    words = " ".join(text.split())
    room = LINE_LENGTH - indent - 6
    if len(words) <= room:
        return f'"""{words}"""'
    lines = textwrap.wrap(words, width=room)
    pad = " " * indent
    return '"""' + lines[0] + "".join(f"\n{pad}{line}" for line in lines[1:]) + f"\n{pad}" + '"""'


def format_python(files: dict[str, str]) -> dict[str, str]:
    """Return Python sources formatted by `ruff format`, in one run, deterministically.

    One `ruff format` over all files in a temporary directory. Settings are
    passed explicitly (`--isolated`): the output must not depend on which
    configuration file is found there. Imports are written sorted as ruff's
    isort wants them (`make lint` checks it).
    """
    if not files:
        return {}
    with tempfile.TemporaryDirectory(prefix="ccbridge-codegen-") as tmp:
        root = Path(tmp)
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        settings = [
            "--isolated",
            "--no-cache",
            "--quiet",
            f"--line-length={LINE_LENGTH}",
            "--target-version=py311",
        ]
        done = subprocess.run(
            [sys.executable, "-m", "ruff", "format", *settings, str(root)],
            capture_output=True,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
            check=False,
        )
        if done.returncode != 0:
            raise ValueError(f"ruff format failed on generated code:\n{done.stdout}{done.stderr}")
        return {rel: (root / rel).read_text(encoding="utf-8") for rel in files}
