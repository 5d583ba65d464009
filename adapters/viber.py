"""Viber REST bot API callbacks: ``event: message`` becomes an event.

Every other callback (the ``webhook`` set-up check, ``subscribed``,
``conversation_started``, ``delivered``, ``seen``, ``failed``) is valid and
ignored; the gateway must still answer it with 200 or Viber refuses the webhook.
"""

from __future__ import annotations

from typing import Any

from adapters.fields import MAX_TEXT_CHARS, clip, epoch_at, id_at, load_json_object, obj_at, str_at
from adapters.result import AdapterError, Context, Parsed, Result, adapter
from schemas.events import Customer, InboundReceived

#: Message types whose content is a file or a place rather than text.
_MEDIA = {"picture", "video", "file", "sticker", "location", "contact", "url"}


@adapter
def parse_viber(body: bytes, ctx: Context) -> Result:
    """Event id ``viber:<message_token>``; one conversation per Viber user."""
    payload = load_json_object(body)
    kind = payload.get("event")
    if kind != "message":
        if isinstance(kind, str):
            raise AdapterError("not_a_message", f"event={kind!r}", ignored=True)
        raise AdapterError("missing_field" if kind is None else "invalid_field", "$.event")
    token = id_at(payload, "message_token", "$")
    sender = obj_at(payload, "sender", "$")
    user = id_at(sender, "id", "$.sender")
    message = obj_at(payload, "message", "$")
    mtype = str_at(message, "type", "$.message", required=True)
    text, cut = clip(str_at(message, "text", "$.message"), MAX_TEXT_CHARS)
    attributes: dict[str, Any] = {"platform": "viber", "message_type": mtype}
    if mtype in _MEDIA:
        media = {k: message[k] for k in ("media", "file_name", "size") if k in message}
        attributes.update({k: v for k, v in media.items() if isinstance(v, str | int)})
    for key in ("language", "country"):
        value = sender.get(key)
        if isinstance(value, str):
            attributes[key] = value
    if cut:
        attributes["text_truncated"] = True
    event = InboundReceived(
        event_id=f"viber:{token}",
        tenant=ctx.tenant,
        channel="social",
        source="viber",
        conversation_id=f"viber:{user}",
        customer=Customer(f"viber:{user}", str_at(sender, "name", "$.sender")[:200]),
        received_at=epoch_at(payload, "timestamp", millis=True, default=ctx.now),
        text=text,
        attributes=attributes,
    )
    return Parsed((event,))
