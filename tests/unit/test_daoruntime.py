"""The hand-written DAO runtime agrees with what codegen assumes of it."""

from __future__ import annotations

import pytest

from ccbridge import daoruntime
from ccbridge.daoruntime import CODECS, Codecs
from codegen.dialects import DIALECTS
from codegen.model import TYPES


@pytest.mark.parametrize("dialect", DIALECTS)
def test_codecs_are_the_ones_codegen_names(dialect: str) -> None:
    d = DIALECTS[dialect]
    for field in Codecs._fields:
        kind, ctype = field.split("_", 1)
        assert ctype in TYPES
        named = (d.WRITE_CODEC if kind == "param" else d.RESULT_CODEC).get(ctype) or "same"
        assert getattr(CODECS[dialect], field) is getattr(daoruntime, named), field


def test_every_codec_codegen_names_exists() -> None:
    for d in DIALECTS.values():
        for table in (d.WRITE_CODEC, d.READ_CODEC, d.RESULT_CODEC):
            for name in filter(None, table.values()):
                assert name in daoruntime.__all__, name
