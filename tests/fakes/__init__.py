"""Test doubles that speak real protocols over loopback.

`tests.fakes.upstream` is a scriptable fake of the Anthropic Messages and
OpenAI Responses HTTP APIs, usable in tests and as a benchmark process.
"""

__all__ = ()
