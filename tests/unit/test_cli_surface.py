"""The command line's own surface: --version and help on every flag."""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import ccbridge
from ccbridge.cli import build_parser

# The console script pip installed beside this interpreter: the real entry point.
ENTRY_POINT = Path(sys.executable).parent / "ccbridge"


def test_version_from_the_installed_entry_point() -> None:
    result = subprocess.run(
        [str(ENTRY_POINT), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"ccbridge {ccbridge.__version__}\n"
    # pyproject.toml reads the version from ccbridge.__version__.
    assert metadata.version("ccbridge") == ccbridge.__version__


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {name: sub for action in actions for name, sub in action.choices.items()}


def test_every_flag_of_every_subcommand_has_help() -> None:
    parser = build_parser()
    subcommands = _subcommands(parser)
    assert set(subcommands) == {"serve", "migrate", "check", "import", "dbmigrate"}
    missing = [
        f"{name} {action.option_strings[0]}"
        for name, sub in [("ccbridge", parser), *subcommands.items()]
        for action in sub._actions
        if action.option_strings and not (action.help and action.help != argparse.SUPPRESS)
    ]
    assert missing == []


def test_help_names_what_a_flag_takes() -> None:
    text = _subcommands(build_parser())["import"].format_help()
    assert "--from DIR" in text and "directory holding the legacy files" in text
    serve = _subcommands(build_parser())["serve"].format_help()
    assert "uvicorn's log level" in serve
