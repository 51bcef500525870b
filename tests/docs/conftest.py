"""The proxy tests' gateway fixture: PostgreSQL databases are template copies."""

from tests.proxy.conftest import (  # noqa: F401 - fixtures re-exported for tests/docs
    _databases,
    _reaper,
    gateway,
)
