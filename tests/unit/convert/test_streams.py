"""Converted streams: fixtures in tests/fixtures/convert/streams/.

Every fixture is converted whole, at every single cut point, in random
multi-cut splits and one byte at a time, with LF and with CRLF line ends;
each result must obey the Messages grammar and be the same bytes.
"""

from __future__ import annotations

import pytest

from tests.unit.convert.fixtures import FIXTURES, bridge_for, load, names
from tests.unit.convert.streamcheck import (
    check_grammar,
    cut_points,
    events_of,
    run_in_pieces,
    summarize,
)

STREAMS = names("streams")


def _upstream(name: str, crlf: bool) -> bytes:
    raw = (FIXTURES / "streams" / f"{name}.sse").read_bytes()
    return raw.replace(b"\n", b"\r\n") if crlf else raw


@pytest.mark.parametrize("name", STREAMS)
def test_stream_converts_to_expected_blocks(name: str) -> None:
    case = load("streams", name)
    conv = bridge_for(case).stream_converter()
    out = conv.feed(_upstream(name, False)) + conv.close()
    events = events_of(out)
    check_grammar(events, finished=case.get("terminal", True))
    assert summarize(events) == case["expected"]
    assert conv.terminal is case.get("terminal", True)
    assert conv.model == case["expected"]["model"]
    if "usage" in case["expected"]:
        usage = case["expected"]["usage"]
        assert (
            conv.usage.input_tokens,
            conv.usage.output_tokens,
            conv.usage.cache_read_tokens,
        ) == (
            usage["input_tokens"],
            usage["output_tokens"],
            usage["cache_read_input_tokens"],
        )


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
@pytest.mark.parametrize("name", STREAMS)
def test_stream_is_the_same_however_split(name: str, crlf: bool) -> None:
    case = load("streams", name)
    bridge = bridge_for(case)
    data = _upstream(name, crlf)
    whole = run_in_pieces(bridge.stream_converter, data, [])
    check_grammar(events_of(whole), finished=case.get("terminal", True))
    for cuts in cut_points(data, random_runs=30):
        assert run_in_pieces(bridge.stream_converter, data, cuts) == whole, (
            f"differs when cut at {cuts[:5]}"
        )
