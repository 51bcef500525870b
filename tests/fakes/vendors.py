"""One fake upstream that answers as every vendor API, chosen by path.

For tests that configure many kinds of channel at once (the API guide):
each request goes to the checking responder of the API its path names.
"""

from __future__ import annotations

import dataclasses

from tests.fakes.upstream import (
    JsonReply,
    RecordedRequest,
    Reply,
    chat_responder,
    gemini_responder,
    messages_responder,
    responses_responder,
)

__all__ = ("vendor_responder",)


def vendor_responder(req: RecordedRequest) -> Reply:
    """Answer as Anthropic, OpenAI Chat, Responses or Gemini, by path."""
    path = req.path
    if path.endswith("/messages"):
        return messages_responder(req)
    if path.endswith("/chat/completions"):
        return chat_responder(req)
    if path.endswith("/responses"):
        return responses_responder(req)
    if ":generateContent" in path or ":streamGenerateContent" in path:
        # Google serves the API under /v1beta; the checking fake expects /models/….
        return gemini_responder(dataclasses.replace(req, path=path.removeprefix("/v1beta")))
    return JsonReply({"error": {"message": f"no fake API at {path}"}}, status=404)
