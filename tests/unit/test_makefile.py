"""Each make target installs only the extras it needs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def planned(target: str, venv: Path) -> str:
    """Return the commands ``make`` would run for ``target`` on a fresh venv."""
    assert shutil.which("make"), "make is needed to build ccbridge"
    result = subprocess.run(
        ["make", "-n", "--no-print-directory", target, f"VENV={venv}", "PYTHON=python3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout


RUN = "-e ."
CODEGEN = "-e '.[codegen]'"
ALL = "-e '.[codegen,test]'"


@pytest.mark.parametrize(
    ("target", "installs"),
    [
        ("run", {RUN}),
        ("codegen", {CODEGEN}),
        ("check-generated", {CODEGEN}),
        ("test", {ALL, CODEGEN}),  # check-generated runs first
        ("lint", {ALL}),
    ],
)
def test_target_installs_only_its_extras(tmp_path: Path, target: str, installs: set[str]) -> None:
    venv = tmp_path / "venv"
    plan = planned(target, venv)
    assert plan.startswith(f"python3 -m venv --without-pip {venv}\n")
    pip = {
        line.split("--quiet ", 1)[1]
        for line in plan.splitlines()
        if "pip install" in line and "--upgrade pip" not in line
    }
    assert pip == installs
    if target == "run":
        assert plan.rstrip().endswith(f"{venv}/bin/ccbridge serve")


def test_stamps_are_separate(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    stamps = {t: planned(t, venv) for t in ("run", "codegen", "test")}
    assert f"touch {venv}/.installed-run" in stamps["run"]
    assert f"touch {venv}/.installed-codegen" in stamps["codegen"]
    assert f"touch {venv}/.installed\n" in stamps["test"]
