"""python -m codegen [--check]: schema.yaml -> generated/.

Without --check, writes what changed (and the next migration, if the schema
moved). With --check, writes nothing and exits 1 when generated/ is not
exactly what codegen makes from schema.yaml.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codegen.migrations import plan_migrations
from codegen.model import SchemaError, load_schema
from codegen.render import render_static

__all__ = ("main",)


def build(schema_path: Path, out: Path, check: bool) -> tuple[dict[str, str], list[str]]:
    """Return every file generated/ must hold, and problems found."""
    schema = load_schema(schema_path)
    migrations, problems = plan_migrations(schema, out, check)
    expected = {**render_static(schema), **migrations}
    return dict(sorted(expected.items())), problems


def _on_disk(out: Path) -> dict[str, str]:
    skip = {"__pycache__"}
    return {
        p.relative_to(out).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(out.rglob("*"))
        if p.is_file() and not skip & set(p.relative_to(out).parts)
    }


def main(argv: list[str] | None = None) -> int:
    """Run codegen; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m codegen", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="fail if generated/ is stale; write nothing"
    )
    parser.add_argument("--schema", type=Path, default=Path("schema.yaml"))
    parser.add_argument("--out", type=Path, default=Path("generated"))
    args = parser.parse_args(argv)
    try:
        expected, problems = build(args.schema, args.out, args.check)
    except (SchemaError, ValueError) as ex:
        print(f"codegen: {ex}", file=sys.stderr)
        return 1
    disk = _on_disk(args.out) if args.out.exists() else {}
    changed = [p for p, text in expected.items() if disk.get(p) != text]
    extra = [p for p in disk if p not in expected]
    if args.check:
        problems += [f"generated/{p} is stale or edited by hand" for p in changed]
        problems += [f"generated/{p} is not produced by codegen" for p in extra]
        for problem in problems:
            print(f"codegen: {problem}", file=sys.stderr)
        return 1 if problems else 0
    for rel in changed:
        path = args.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(expected[rel], encoding="utf-8")
    for rel in extra:
        (args.out / rel).unlink()
    print(
        f"codegen: {len(changed)} file(s) written, {len(extra)} removed, "
        f"{len(expected)} in generated/"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
