"""Per-table progress on stderr: a bar on a terminal, lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Final, TextIO

__all__ = ("Progress",)

_BAR: Final = 24
_TTY_EVERY_S: Final = 0.1
_LINE_EVERY_S: Final = 5.0


class Progress:
    """Report rows done per table, with the rate.

    Args:
        stream: Where to write (stderr by default).
        enabled: False writes nothing.
    """

    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        self._label = ""
        self._total = 0
        self._done = 0
        self._start = 0.0
        self._shown = 0.0

    def start(self, label: str, total: int) -> None:
        """Begin a table of ``total`` rows."""
        self._label, self._total, self._done = label, total, 0
        self._start = self._shown = time.monotonic()
        self._show(force=self.tty)

    def advance(self, rows: int) -> None:
        """Count ``rows`` more rows done."""
        self._done += rows
        self._show()

    def finish(self, note: str = "", *, transient: bool = False) -> None:
        """End the table with a final line (none if ``transient``)."""
        if not self.enabled:
            return
        if transient:
            if self.tty:
                self.stream.write("\r\x1b[2K")
                self.stream.flush()
            return
        elapsed = max(time.monotonic() - self._start, 1e-9)
        rate = self._done / elapsed
        line = f"{self._label}: {self._done:,} rows in {elapsed:.1f} s ({rate:,.0f} rows/s)"
        if note:
            line += f" {note}"
        self.stream.write(("\r\x1b[2K" if self.tty else "") + line + "\n")
        self.stream.flush()

    def _show(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._shown < (_TTY_EVERY_S if self.tty else _LINE_EVERY_S):
            return
        self._shown = now
        rate = self._done / max(now - self._start, 1e-9)
        share = self._done / self._total if self._total else 1.0
        counts = f"{self._done:,}/{self._total:,} rows {rate:,.0f} rows/s"
        if self.tty:
            filled = int(_BAR * min(share, 1.0))
            bar = "#" * filled + "." * (_BAR - filled)
            self.stream.write(f"\r\x1b[2K{self._label:<20} [{bar}] {share:4.0%} {counts}")
        else:
            self.stream.write(f"{self._label}: {share:.0%} {counts}\n")
        self.stream.flush()
