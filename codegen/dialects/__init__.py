"""The dialects codegen renders for, by name."""

from __future__ import annotations

from codegen.dialects.base import Dialect
from codegen.dialects.postgres import Postgres
from codegen.dialects.sqlite import SQLite

__all__ = ("DIALECTS", "Dialect")

DIALECTS: dict[str, Dialect] = {"sqlite": SQLite(), "postgres": Postgres()}
