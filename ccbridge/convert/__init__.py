"""Pure protocol conversion between the Messages, Chat, Responses and Gemini APIs.

No I/O and no imports from the proxy: the relay calls
:class:`~ccbridge.convert.bridge.MessagesBridge` through its protocol seam.
Layout and the reasons for a neutral form: docs/conversion.md.
"""

from __future__ import annotations

from ccbridge.convert.bridge import (
    CHAT_TARGETS,
    MESSAGES_TARGETS,
    RESPONSES_TARGETS,
    BridgeOptions,
    ChatBridge,
    ConvertedResponse,
    MessagesBridge,
    ResponsesBridge,
)
from ccbridge.convert.errors import anthropic_error, stream_error_event
from ccbridge.convert.ir import ConversionError, Usage
from ccbridge.convert.stream import StreamConverter

__all__ = (
    "CHAT_TARGETS",
    "MESSAGES_TARGETS",
    "BridgeOptions",
    "ChatBridge",
    "ConversionError",
    "ConvertedResponse",
    "MessagesBridge",
    "RESPONSES_TARGETS",
    "ResponsesBridge",
    "StreamConverter",
    "Usage",
    "anthropic_error",
    "stream_error_event",
)
