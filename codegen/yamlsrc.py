"""Load YAML while remembering the line of every key.

PyYAML's safe_load forgets positions and silently keeps the last of two
duplicate keys; codegen needs both for `schema.yaml:LINE: message` errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

__all__ = ("Located", "SchemaError", "load")

Path = tuple[str | int, ...]


class SchemaError(ValueError):
    """A schema.yaml problem, rendered as ``FILE:LINE: message``."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file = file
        self.line = line
        self.message = message


@dataclass(frozen=True, slots=True)
class Located:
    """Plain data parsed from YAML plus the line of each path in it."""

    file: str
    data: Any
    lines: dict[Path, int]

    def line(self, *path: str | int) -> int:
        """Return the line of the longest known prefix of a path."""
        for end in range(len(path), 0, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return 1

    def error(self, path: Path, message: str) -> SchemaError:
        """Build an error pointing at a path."""
        return SchemaError(self.file, self.line(*path), message)


def load(text: str, file: str) -> Located:
    """Parse YAML text, rejecting duplicate keys, with key lines."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as ex:
        mark = getattr(ex, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise SchemaError(file, line, f"invalid YAML: {getattr(ex, 'problem', ex)}") from None
    lines: dict[Path, int] = {}
    data = _convert(root, (), lines, file) if root is not None else {}
    return Located(file, data, lines)


def _convert(node: yaml.Node, path: Path, lines: dict[Path, int], file: str) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if key in out:
                raise SchemaError(file, key_node.start_mark.line + 1, f"duplicate key '{key}'")
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _convert(value_node, (*path, key), lines, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), lines, file) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    constructor = yaml.SafeLoader(" ")
    try:
        return constructor.construct_object(node, deep=True)
    finally:
        constructor.dispose()
