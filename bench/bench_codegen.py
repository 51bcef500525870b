"""How long a full codegen of schema.yaml takes; the target is under 2 s.

Two figures:
  in-process: ``build()`` (load and validate schema.yaml, render every file,
      diff against the lock) several times in one process, writing nothing;
  fresh process: ``python -m codegen --check`` (interpreter start, imports,
      the same build, the comparison with generated/), as `make
      check-generated` and CI run it.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET = 2.0  # seconds
IN_PROCESS_ROUNDS = 5
PROCESS_ROUNDS = 3


def _stats(label: str, times: list[float]) -> float:
    best, median, worst = min(times), statistics.median(times), max(times)
    print(f"{label:<30} best {best:6.3f} s   median {median:6.3f} s   worst {worst:6.3f} s")
    return median


def in_process() -> tuple[float, float]:
    """Time imports, then build() a few times; return (import, median build)."""
    start = time.perf_counter()
    from codegen.__main__ import build

    imported = time.perf_counter() - start
    print(f"{'import codegen':<30} {imported:6.3f} s")
    times = []
    for _ in range(IN_PROCESS_ROUNDS):
        start = time.perf_counter()
        expected, problems = build(ROOT / "schema.yaml", ROOT / "generated", check=True)
        times.append(time.perf_counter() - start)
    assert expected and not problems, problems
    return imported, _stats(f"build() x{IN_PROCESS_ROUNDS}", times)


def fresh_process() -> float:
    """Time ``python -m codegen --check`` from start to exit; return the median."""
    times = []
    for _ in range(PROCESS_ROUNDS):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "codegen", "--check"], cwd=ROOT, capture_output=True, text=True
        )
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            print(f"python -m codegen --check failed:\n{done.stderr}", file=sys.stderr)
            raise SystemExit(1)
    return _stats(f"python -m codegen --check x{PROCESS_ROUNDS}", times)


def main() -> int:
    """Run both measurements; exit 1 when a median misses the target."""
    imported, build_median = in_process()
    process_median = fresh_process()
    ok = imported + build_median < TARGET and process_median < TARGET
    verdict = "ok" if ok else "TOO SLOW"
    print(f"target < {TARGET:.1f} s: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
