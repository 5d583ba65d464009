"""The live-chat widget's own events (schema version 1).

A chat is one piece of work offered to one agent, so every event of a chat
carries the chat's id as its event id: the first ``chat_started`` (or, if that
was lost, the first ``chat_message``) opens the ticket and the rest are
recognised as the same ticket downstream. ``chat_ended`` routes nothing (the
agent desk reports finished work as ``WorkFinished``) and is ignored.

Fields (JSON object; times are epoch seconds; ``visitor`` is required except on
``chat_ended``)::

    {"type": "chat_started" | "chat_message" | "chat_ended",
     "v": 1,                          # optional, must be 1
     "chat_id": "c-42",
     "visitor": {"id": "v-7", "name": "Ada", "email": "ada@example.org"},
     "button": "pricing",             # chat button; source becomes "chat:<button>"
     "department": "sales",           # department the visitor chose (attribute; also
                                      #   the source when there is no button)
     "message_id": "m-1",             # chat_message only
     "text": "Hi, a question",        # first message / this message
     "priority": 2,                   # optional, 1 (most urgent) .. 5
     "page_url": "https://...", "language": "en",
     "occurred_at": 1700000000.5}
"""

from __future__ import annotations

from typing import Any

from adapters.fields import MAX_TEXT_CHARS, clip, epoch_at, id_at, load_json_object, obj_at, str_at
from adapters.result import AdapterError, Context, Parsed, Result, adapter
from schemas.events import PRIORITY_DEFAULT, PRIORITY_MAX, PRIORITY_MIN, Customer, InboundReceived

CHAT_EVENTS = ("chat_started", "chat_message", "chat_ended")
SCHEMA_VERSION = 1


@adapter
def parse_chat(body: bytes, ctx: Context) -> Result:
    payload = load_json_object(body)
    kind = payload.get("type")
    if kind not in CHAT_EVENTS:
        raise AdapterError(
            "unknown_chat_event", f"type={kind!r}, expected one of {list(CHAT_EVENTS)}"
        )
    version = payload.get("v", SCHEMA_VERSION)
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise AdapterError("unsupported_version", f"v={version!r}, this reader knows v=1")
    chat_id = id_at(payload, "chat_id", "$")
    if kind == "chat_ended":
        raise AdapterError("chat_ended", f"chat {chat_id} ended; nothing to route", ignored=True)
    visitor = obj_at(payload, "visitor", "$")
    visitor_id = id_at(visitor, "id", "$.visitor")
    button = str_at(payload, "button", "$")
    department = str_at(payload, "department", "$")
    priority = payload.get("priority", PRIORITY_DEFAULT)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise AdapterError("invalid_field", "$.priority: expected an integer")
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise AdapterError("invalid_field", f"$.priority: {priority} outside 1..5")
    text, cut = clip(str_at(payload, "text", "$"), MAX_TEXT_CHARS)
    attributes: dict[str, Any] = {"chat_event": kind}
    for key, value in (("button", button), ("department", department)):
        if value:
            attributes[key] = value
    for key in ("page_url", "language"):
        value = str_at(payload, key, "$")
        if value:
            attributes[key] = value[:2000]
    if kind == "chat_message":
        attributes["message_id"] = id_at(payload, "message_id", "$")
    if cut:
        attributes["text_truncated"] = True
    origin = button or department
    event = InboundReceived(
        event_id=f"chat:{chat_id}",
        tenant=ctx.tenant,
        channel="chat",
        source=f"chat:{origin}" if origin else "chat",
        conversation_id=f"chat:{chat_id}",
        customer=Customer(
            f"chat:{visitor_id}",
            str_at(visitor, "name", "$.visitor")[:200],
            str_at(visitor, "email", "$.visitor")[:320],
        ),
        received_at=epoch_at(payload, "occurred_at", millis=False, default=ctx.now),
        text=text,
        priority=priority,
        attributes=attributes,
    )
    return Parsed((event,))
