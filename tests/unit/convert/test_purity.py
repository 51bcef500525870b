"""ccbridge/convert stays pure: no I/O modules, no imports from the layers above."""

from __future__ import annotations

import ast
from pathlib import Path

import ccbridge.convert

PACKAGE = Path(ccbridge.convert.__file__).parent
ALLOWED_STDLIB = {
    "__future__",
    "collections",
    "dataclasses",
    "hashlib",
    "html",
    "re",
    "secrets",
    "string",
    "typing",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_convert_imports_only_itself_orjson_and_pure_stdlib() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) > 10
    for path in modules:
        for name in _imports(path):
            top = name.split(".")[0]
            ok = name.startswith("ccbridge.convert") or top == "orjson" or top in ALLOWED_STDLIB
            assert ok, f"{path.name} imports {name}"
