"""ccbridge's log: `LOG_LEVEL` and `LOG_FORMAT` (text, or one JSON object a line).

The proxy's access log (`ccbridge.access`) writes one line per proxied
request with its fields in `extra={"fields": {...}}`: the text format
appends them as key=value, the JSON format as keys of the object.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, Final

import orjson

__all__ = ("ACCESS_LOGGER", "JsonFormatter", "TextFormatter", "configure")

ACCESS_LOGGER: Final = "ccbridge.access"
_HANDLER_NAME: Final = "ccbridge"


class TextFormatter(logging.Formatter):
    """`time level logger message key=value ...`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Return the line, with the record's fields appended."""
        line = super().format(record)
        fields: dict[str, Any] | None = getattr(record, "fields", None)
        if fields:
            line += " " + " ".join(f"{k}={_text(v)}" for k, v in fields.items())
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the object as one line."""
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields: dict[str, Any] | None = getattr(record, "fields", None)
        if fields:
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def _text(value: Any) -> str:
    text = str(value)
    return text if text and " " not in text and '"' not in text else orjson.dumps(text).decode()


def configure(level: str, fmt: str) -> None:
    """Send ccbridge's loggers to stderr at `level` in format `fmt` (text or json)."""
    logger = logging.getLogger("ccbridge")
    logger.setLevel(level.upper())
    for old in [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]:
        logger.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.propagate = False
