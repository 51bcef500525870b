"""Run the curl examples of docs/api.md against a live gateway.

The guide's format (docs/api.md keeps it; sections appended later too):

* A ```sh block holds exactly one ``curl`` command using ``$CCBRIDGE`` (the
  base URL), ``$ADMIN_KEY`` or ``$CLIENT_KEY``, and variables saved earlier.
* A ```json block right after it is the response body. The answer must hold
  every key shown with an equal value; ``"…"`` matches any value, a string
  with ``…`` in it matches any text there, and a list ending in ``"…"``
  matches a list that starts with the elements shown.
* A ```sh block without a ```json block is an example whose reply is not
  JSON (an SSE stream, /metrics): only a 2xx status is checked.
* A GET whose answer differs is sent again for up to `GET_PATIENCE`
  seconds (log rows and stats appear shortly after a request); other
  methods are sent once.
* ``<!-- save: NAME=.path.to[0].value -->`` after an example stores a value
  of its answer as ``$NAME`` for the examples below it.

Upstream hosts named in request bodies (`UPSTREAM_HOSTS`) are served by the
test's fake upstream: the runner swaps them in the command and back in the
answer, so the guide shows the real vendor URLs.

The curl line is split with shlex and sent with httpx rather than run with
the curl binary: no system package is needed on a fresh machine, and an
option the parser does not know fails the example, so the guide keeps to
the plain subset (-X, -H, -d, -s, -N, -o FILE, -d @FILE) that any curl
understands. Variables
are expanded as the shell would: ``$NAME`` and ``${NAME}`` outside single
quotes.

``python -m tests.docs.guide [FILE]`` runs the guide against a fresh SQLite
gateway and prints every answer, for writing the ```json blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shlex
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx

from tests.fakes.upstream import FakeUpstream
from tests.fakes.vendors import vendor_responder

__all__ = (
    "GUIDE",
    "UPSTREAM_HOSTS",
    "Example",
    "GuideError",
    "Request",
    "expand",
    "mismatch",
    "parse_curl",
    "parse_guide",
    "pick",
    "run_example",
    "vendor_upstream",
)

GUIDE: Final = Path(__file__).resolve().parents[2] / "docs" / "api.md"
ANY: Final = "…"
# A GET is sent again until it answers as shown, for this long: request logs
# reach the database a moment after the answer (the writer flushes every 0.1 s).
GET_PATIENCE: Final = 5.0
# Vendor base URLs a guide may name; the test serves each with its fake upstream.
UPSTREAM_HOSTS: Final = (
    "https://api.anthropic.com",
    "https://api.openai.com",
    "https://generativelanguage.googleapis.com",
    "https://chatgpt.com/backend-api/codex",
    "https://openrouter.ai/api",
)

_FENCE = re.compile(r"^```(\w*)\s*$")
_SAVE = re.compile(r"^<!--\s*save:\s*(.*?)\s*-->\s*$")
_HEADING = re.compile(r"^#{1,6}\s+(.*)$")
_VAR = re.compile(r"\$(?:\{([A-Za-z_]\w*)\}|([A-Za-z_]\w*))")
_PATH_STEP = re.compile(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]")


class GuideError(AssertionError):
    """An example of the guide that is malformed or whose answer differs."""


@dataclass
class Example:
    """One curl example: where it is, what it sends, what it expects."""

    heading: str
    line: int
    command: str
    expected: Any = None
    has_json: bool = False
    saves: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"docs/api.md line {self.line} ({self.heading!r})"


@dataclass
class Request:
    """An HTTP request taken from a curl command line."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes | None
    body_file: str = ""  # -d @FILE: the body is a file written earlier with -o
    output: str = ""  # -o FILE: the answer is kept under this name


# -- parsing the guide ---------------------------------------------------------


def _blocks(text: str) -> Iterator[tuple[str, int, str, str]]:
    """Yield (kind, line, heading, body) of fenced blocks and save comments."""
    heading = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if m := _HEADING.match(line):
            heading = m.group(1).strip()
        elif m := _SAVE.match(line):
            yield "save", i + 1, heading, m.group(1)
        elif m := _FENCE.match(line):
            start, lang = i + 1, m.group(1)
            i += 1
            body = []
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            yield lang or "text", start, heading, "\n".join(body)
        elif line.strip():
            yield "prose", i + 1, heading, line
        i += 1


def parse_guide(text: str) -> list[Example]:
    """Return the examples of a guide in document order.

    Raises:
        GuideError: A ```sh block that is not one curl command, a ```json
            block that is not JSON or follows no example, a bad save.
    """
    examples: list[Example] = []
    last: Example | None = None  # the example a json block or save may attach to
    for kind, line, heading, body in _blocks(text):
        if kind == "sh":
            last = _example(heading, line, body)
            examples.append(last)
        elif kind == "json":
            if last is None or last.has_json:
                raise GuideError(f"docs/api.md line {line}: a json block without a curl before it")
            try:
                last.expected = json.loads(body)
            except ValueError as ex:
                raise GuideError(f"docs/api.md line {line}: json block: {ex}") from None
            last.has_json = True
        elif kind == "save":
            if last is None:
                raise GuideError(f"docs/api.md line {line}: a save without a curl before it")
            last.saves.update(_saves(body, line))
        else:  # prose or another block: a json block must follow its curl directly
            last = None
    return examples


def _example(heading: str, line: int, body: str) -> Example:
    command = " ".join(part.strip() for part in body.replace("\\\n", " ").splitlines())
    words = shlex.split(command, comments=True)
    if not words or words[0] != "curl" or "|" in words or ";" in words:
        raise GuideError(f"docs/api.md line {line}: a sh block must hold exactly one curl command")
    return Example(heading, line, command)


def _saves(spec: str, line: int) -> dict[str, str]:
    saves = {}
    for item in spec.split():
        name, sep, path = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", name) or not path.startswith("."):
            raise GuideError(f"docs/api.md line {line}: save must be NAME=.path, got {item!r}")
        saves[name] = path
    return saves


# -- the command line ------------------------------------------------------------


def expand(command: str, env: Mapping[str, str]) -> str:
    """Expand ``$NAME`` and ``${NAME}`` outside single quotes, as sh does.

    Raises:
        GuideError: A variable that is not set.
    """
    out: list[str] = []
    quoted = False
    i = 0
    while i < len(command):
        ch = command[i]
        if ch == "'":
            quoted = not quoted
        elif ch == "$" and not quoted and (m := _VAR.match(command, i)):
            name = m.group(1) or m.group(2)
            if name not in env:
                raise GuideError(f"${name} is not set (save it from an earlier answer)")
            out.append(shlex.quote(env[name]) if not _in_double(command, i) else env[name])
            i = m.end()
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _in_double(command: str, at: int) -> bool:
    """Return whether position ``at`` is inside double quotes."""
    inside, single = False, False
    for ch in command[:at]:
        if ch == "'" and not inside:
            single = not single
        elif ch == '"' and not single:
            inside = not inside
    return inside


_DATA_FLAGS: Final = {"-d", "--data", "--data-raw", "--data-binary"}
_FLAGS_WITH_VALUE: Final = {"-X", "--request", "-H", "--header", "-o", "--output", *_DATA_FLAGS}
_FLAGS_IGNORED: Final = {"-s", "-S", "-sS", "--silent", "-N", "--no-buffer", "--fail"}


def parse_curl(words: list[str]) -> Request:
    """Return the request a curl command line sends.

    Raises:
        GuideError: An option this runner does not know, or no URL.
    """
    method, url, headers, body, body_file, output = "", "", [], None, "", ""
    rest = iter(words[1:])
    for word in rest:
        if word in _FLAGS_WITH_VALUE:
            value = next(rest, None)
            if value is None:
                raise GuideError(f"curl {word} needs a value")
            if word in ("-X", "--request"):
                method = value
            elif word in ("-H", "--header"):
                name, _, val = value.partition(":")
                headers.append((name.strip(), val.strip()))
            elif word in ("-o", "--output"):
                output = value
            elif value.startswith("@") and word != "--data-raw":
                body, body_file = b"", value[1:]
            else:
                body = value.encode()
        elif word in _FLAGS_IGNORED:
            continue
        elif word.startswith("-"):
            raise GuideError(f"curl option {word} is not supported by the guide runner")
        elif url:
            raise GuideError(f"curl with two URLs: {url} and {word}")
        else:
            url = word
    if not url:
        raise GuideError("curl without a URL")
    if body is not None and not any(n.lower() == "content-type" for n, _ in headers):
        headers.append(("Content-Type", "application/x-www-form-urlencoded"))  # as curl -d
    method = method or ("POST" if body is not None else "GET")
    return Request(method, url, headers, body, body_file, output)


# -- comparing answers -------------------------------------------------------------


def mismatch(actual: Any, expected: Any, path: str = "") -> str | None:
    """Return where ``actual`` lacks what ``expected`` shows, or None."""
    if expected == ANY:
        return None
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path or 'answer'}: expected an object, got {actual!r}"
        for key, value in expected.items():
            if key not in actual:
                return f"{path}.{key}: missing"
            if problem := mismatch(actual[key], value, f"{path}.{key}"):
                return problem
        return None
    if isinstance(expected, list):
        return _list_mismatch(actual, expected, path)
    if isinstance(expected, str) and ANY in expected and isinstance(actual, str):
        pattern = ".*".join(re.escape(part) for part in expected.split(ANY))
        return None if re.fullmatch(pattern, actual, re.S) else f"{path}: {actual!r}"
    same = actual == expected and type(actual) is type(expected)
    if not same and isinstance(expected, int | float) and isinstance(actual, int | float):
        same = actual == expected and not isinstance(actual, bool)
    return None if same else f"{path}: expected {expected!r}, got {actual!r}"


def _list_mismatch(actual: Any, expected: list[Any], path: str) -> str | None:
    if not isinstance(actual, list):
        return f"{path}: expected a list, got {actual!r}"
    open_end = bool(expected) and expected[-1] == ANY
    shown = expected[:-1] if open_end else expected
    if len(actual) < len(shown) or (not open_end and len(actual) != len(shown)):
        return f"{path}: expected {len(shown)} items, got {len(actual)}: {actual!r}"
    for i, (got, want) in enumerate(zip(actual, shown, strict=False)):
        if problem := mismatch(got, want, f"{path}[{i}]"):
            return problem
    return None


def pick(value: Any, path: str) -> Any:
    """Return the part of ``value`` a save path (``.a.b[0]``) names."""
    for m in _PATH_STEP.finditer(path):
        key, index = m.group(1), m.group(2)
        value = value[key] if key is not None else value[int(index)]
    return value


# -- running ---------------------------------------------------------------------------


def _swap(text: str, table: Mapping[str, str]) -> str:
    for old, new in table.items():
        text = text.replace(old, new)
    return text


async def run_example(
    client: httpx.AsyncClient,
    example: Example,
    env: dict[str, str],
    upstreams: Mapping[str, str],
    patience: float = GET_PATIENCE,
) -> Any:
    """Send one example, check its answer, save its values into ``env``.

    Args:
        client: The HTTP client to send with.
        example: The example.
        env: Variables of the guide ($CCBRIDGE, $ADMIN_KEY, saved values),
            and files written with ``-o FILE`` (as ``@FILE``).
        upstreams: Vendor URL -> fake upstream URL.
        patience: Seconds a GET is sent again until it answers as shown.

    Returns:
        The answer's JSON (or text when it is not JSON).

    Raises:
        GuideError: Naming the example's heading and line.
    """
    try:
        command = _swap(expand(example.command, env), upstreams)
        request = parse_curl(shlex.split(command, comments=True))
    except (GuideError, ValueError) as ex:
        raise GuideError(f"{example.where}: {ex}") from None
    if request.body_file:
        if "@" + request.body_file not in env:
            raise GuideError(f"{example.where}: @{request.body_file} was not written (-o) above")
        request.body = env["@" + request.body_file].encode()
    if not example.has_json:
        return await _check_status_only(client, request, example)
    back = {v: k for k, v in upstreams.items()}
    deadline = time.monotonic() + patience
    while True:
        response = await client.request(
            request.method, request.url, headers=request.headers, content=request.body
        )
        text = _swap(response.text, back)
        try:
            answer = json.loads(text)
        except ValueError:
            raise GuideError(
                f"{example.where}: {response.status_code}, not JSON: {text[:300]}"
            ) from None
        problem = mismatch(answer, example.expected)
        if problem is None:
            break
        if request.method != "GET" or time.monotonic() > deadline:
            raise GuideError(
                f"{example.where}: {problem}\nstatus {response.status_code}, answer: {text[:2000]}"
            )
        await asyncio.sleep(0.05)
    if request.output:
        env["@" + request.output] = response.text
    for name, path in example.saves.items():
        try:
            env[name] = str(pick(answer, path))
        except (KeyError, IndexError, TypeError):
            raise GuideError(f"{example.where}: save {name}={path}: not in the answer") from None
    return answer


async def _check_status_only(client: httpx.AsyncClient, request: Request, example: Example) -> str:
    # Streamed, and closed after the first bytes: the live log stream never ends.
    async with client.stream(
        request.method, request.url, headers=request.headers, content=request.body
    ) as response:
        first = b""
        async for chunk in response.aiter_bytes():
            first = chunk
            break
        if not 200 <= response.status_code < 300:
            raise GuideError(f"{example.where}: status {response.status_code}: {first[:300]!r}")
        if example.saves:
            raise GuideError(f"{example.where}: a save needs a json block")
        return first.decode(errors="replace")


@contextlib.asynccontextmanager
async def vendor_upstream() -> AsyncIterator[dict[str, str]]:
    """Start one fake upstream per vendor URL; yield vendor URL -> fake URL.

    One each, not one for all: an answer's fake URL then maps back to its vendor.
    """
    async with contextlib.AsyncExitStack() as stack:
        fakes = [
            await stack.enter_async_context(FakeUpstream(responder=vendor_responder))
            for _ in UPSTREAM_HOSTS
        ]
        yield {host: fake.url for host, fake in zip(UPSTREAM_HOSTS, fakes, strict=True)}


async def _print_answers(path: Path) -> None:
    from tests.admin.conftest import MASTER_KEY, start_gateway

    examples = parse_guide(path.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        async with vendor_upstream() as upstreams:
            gateway, close = await start_gateway("sqlite", Path(tmp), None)
            env = {"CCBRIDGE": gateway.url, "ADMIN_KEY": MASTER_KEY}
            try:
                async with httpx.AsyncClient(timeout=20) as client:
                    for example in examples:
                        await gateway.flush()  # answers as they settle, for the json blocks
                        print(f"--- line {example.line} ({example.heading})\n{example.command}")
                        try:
                            answer = await run_example(client, example, env, upstreams)
                        except GuideError as ex:  # go on: the answers below still help
                            print(f"FAILED: {ex}")
                            continue
                        print(json.dumps(answer, indent=2, ensure_ascii=False))
            finally:
                await close()


if __name__ == "__main__":
    asyncio.run(_print_answers(Path(sys.argv[1]) if len(sys.argv) > 1 else GUIDE))
