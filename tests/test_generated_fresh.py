"""generated/ is exactly what codegen makes from schema.yaml (make check-generated)."""

from __future__ import annotations

from pathlib import Path

from codegen.__main__ import build

ROOT = Path(__file__).resolve().parents[1]


def test_generated_is_fresh() -> None:
    out = ROOT / "generated"
    expected, problems = build(ROOT / "schema.yaml", out, check=True)
    assert problems == [], "schema.yaml changed without a migration: run `make codegen`"
    disk = {
        p.relative_to(out).as_posix(): p.read_text(encoding="utf-8")
        for p in out.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    stale = sorted(p for p, text in expected.items() if disk.get(p) != text)
    extra = sorted(set(disk) - set(expected))
    assert (stale, extra) == ([], []), "generated/ is stale or edited by hand: run `make codegen`"
