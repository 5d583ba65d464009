"""Facebook Messenger and Instagram messaging webhooks (Graph ``entry[].messaging[]``).

One POST may batch many entries and messaging items. Each customer message (or
postback, a tap on a button we sent) becomes one event; echoes of our own
messages and delivery/read/reaction notices are skipped as ignored items.
"""

from __future__ import annotations

from typing import Any

from adapters.fields import (
    MAX_TEXT_CHARS,
    clip,
    epoch_at,
    id_at,
    list_at,
    load_json_object,
    obj_at,
    str_at,
)
from adapters.result import AdapterError, Context, Rejected, Result, adapter, outcome
from schemas.events import Customer, InboundReceived

_MAX_ATTACHMENTS = 20


@adapter
def parse_messenger(body: bytes, ctx: Context) -> Result:
    """A Messenger webhook (``object: page``); source ``facebook:<page id>``."""
    return _parse(body, ctx, "page", "facebook")


@adapter
def parse_instagram(body: bytes, ctx: Context) -> Result:
    """An Instagram messaging webhook (``object: instagram``); source ``instagram:<account id>``."""
    return _parse(body, ctx, "instagram", "instagram")


def _parse(body: bytes, ctx: Context, expected_object: str, platform: str) -> Result:
    payload = load_json_object(body)
    kind = payload.get("object")
    if kind != expected_object:
        raise AdapterError("wrong_object", f"object={kind!r}, expected {expected_object!r}")
    entries = list_at(payload, "entry", "$")
    events: list[InboundReceived] = []
    skipped: list[Rejected] = []
    for i, entry in enumerate(entries):
        path = f"$.entry[{i}]"
        if not isinstance(entry, dict):
            skipped.append(Rejected("invalid_field", f"{path}: expected an object"))
            continue
        try:
            account = id_at(entry, "id", path)
            items = list_at(entry, "messaging", path)
        except AdapterError as exc:
            skipped.append(exc.rejected())
            continue
        if not items:
            # Comments and mentions arrive as entry[].changes: not messages.
            skipped.append(Rejected("not_a_message", f"{path}: no messaging items", True))
        for j, item in enumerate(items):
            try:
                events.append(_message(item, f"{path}.messaging[{j}]", account, platform, ctx))
            except AdapterError as exc:
                skipped.append(exc.rejected())
    return outcome(events, skipped, f"{platform} messages")


def _message(item: Any, path: str, account: str, platform: str, ctx: Context) -> InboundReceived:
    if not isinstance(item, dict):
        raise AdapterError("invalid_field", f"{path}: expected an object")
    message = item.get("message")
    postback = item.get("postback")
    if not isinstance(message, dict) and not isinstance(postback, dict):
        kinds = sorted(k for k in item if k not in ("sender", "recipient", "timestamp"))
        raise AdapterError(
            "not_a_message", f"{path}: {', '.join(kinds) or 'empty item'}", ignored=True
        )
    sender = id_at(obj_at(item, "sender", path), "id", f"{path}.sender")
    attributes: dict[str, Any] = {"platform": platform, "account_id": account}
    if isinstance(message, dict):
        mpath = f"{path}.message"
        if message.get("is_echo") is True or sender == account:
            raise AdapterError(
                "own_message", f"{mpath}: an echo of the account's own message", ignored=True
            )
        if message.get("is_deleted") is True:
            raise AdapterError(
                "deleted", f"{mpath}: the customer deleted the message", ignored=True
            )
        mid = id_at(message, "mid", mpath)
        text = str_at(message, "text", mpath)
        attachments = _attachments(list_at(message, "attachments", mpath))
        if attachments:
            attributes["attachments"] = attachments
        reply_to = message.get("reply_to")
        if isinstance(reply_to, dict) and isinstance(reply_to.get("mid"), str):
            attributes["reply_to"] = reply_to["mid"]
        quick = message.get("quick_reply")
        if isinstance(quick, dict) and isinstance(quick.get("payload"), str):
            attributes["quick_reply"] = quick["payload"][:1000]
    else:
        assert isinstance(postback, dict)
        ppath = f"{path}.postback"
        # Older Graph versions send postbacks without a mid; sender and time are stable.
        mid = id_at(postback, "mid", ppath, required=False)
        mid = mid or f"postback-{sender}-{id_at(item, 'timestamp', path)}"
        text = str_at(postback, "title", ppath)
        attributes["postback"] = str_at(postback, "payload", ppath)[:1000]
    text, cut = clip(text, MAX_TEXT_CHARS)
    if cut:
        attributes["text_truncated"] = True
    return InboundReceived(
        event_id=f"{platform}:{mid}",
        tenant=ctx.tenant,
        channel="social",
        source=f"{platform}:{account}",
        conversation_id=f"{platform}:{account}:{sender}",
        customer=Customer(f"{platform}:{sender}"),
        received_at=epoch_at(item, "timestamp", millis=True, default=ctx.now),
        text=text,
        attributes=attributes,
    )


def _attachments(items: list[Any]) -> list[dict[str, str]]:
    """Type and link of each attachment: enough for an agent, no content on Kafka."""
    found: list[dict[str, str]] = []
    for a in items[:_MAX_ATTACHMENTS]:
        if not isinstance(a, dict):
            continue
        info = {"type": a["type"] if isinstance(a.get("type"), str) else "unknown"}
        payload = a.get("payload")
        if isinstance(payload, dict) and isinstance(payload.get("url"), str):
            info["url"] = payload["url"][:2000]
        found.append(info)
    return found
