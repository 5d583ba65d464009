"""Each adapter on payloads shaped like the platform documents them, and on the ways they go wrong."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from adapters import (
    Context,
    Parsed,
    Rejected,
    parse,
    parse_canonical,
    parse_chat,
    parse_instagram,
    parse_messenger,
    parse_viber,
)
from schemas.codec import encode
from schemas.events import Customer, InboundReceived

CTX = Context("acme", now=1_700_000_000.0)


def body(obj: Any) -> bytes:
    return orjson.dumps(obj)


def messenger(*items: dict[str, Any], kind: str = "page", page: str = "111") -> bytes:
    return body({"object": kind, "entry": [{"id": page, "time": 1, "messaging": list(items)}]})


def text_item(mid: str, text: str, sender: str = "psid-1", page: str = "111") -> dict[str, Any]:
    return {
        "sender": {"id": sender},
        "recipient": {"id": page},
        "timestamp": 1_700_000_123_456,
        "message": {"mid": mid, "text": text},
    }


def test_messenger_batch_keeps_messages_and_skips_receipts_and_echoes() -> None:
    echo = text_item("m-echo", "our reply", sender="111")
    echo["message"]["is_echo"] = True
    read = {"sender": {"id": "psid-1"}, "recipient": {"id": "111"}, "read": {"watermark": 1}}
    image = text_item("m-2", "")
    image["message"]["attachments"] = [{"type": "image", "payload": {"url": "https://cdn/x.png"}}]
    result = parse_messenger(
        messenger(text_item("m-1", "Where is my order?"), echo, read, image), CTX
    )
    assert isinstance(result, Parsed)
    first, second = result.events
    assert (first.event_id, first.channel, first.source) == (
        "facebook:m-1",
        "social",
        "facebook:111",
    )
    assert first.conversation_id == "facebook:111:psid-1"
    assert first.customer.id == "facebook:psid-1"
    assert first.text == "Where is my order?" and first.received_at == 1_700_000_123.456
    assert second.attributes["attachments"] == [{"type": "image", "url": "https://cdn/x.png"}]
    assert [s.reason for s in result.skipped] == ["own_message", "not_a_message"]
    assert all(s.ignored for s in result.skipped)


def test_messenger_postback_and_old_postback_without_mid() -> None:
    item = {
        "sender": {"id": "p"},
        "recipient": {"id": "111"},
        "timestamp": 5,
        "postback": {"title": "Talk to a human", "payload": "HUMAN"},
    }
    result = parse_messenger(messenger(item), CTX)
    assert isinstance(result, Parsed)
    assert result.events[0].event_id == "facebook:postback-p-5"
    assert result.events[0].attributes["postback"] == "HUMAN"


def test_only_receipts_is_ignored_not_invalid() -> None:
    delivery = {"sender": {"id": "p"}, "recipient": {"id": "111"}, "delivery": {"mids": ["m"]}}
    result = parse_messenger(messenger(delivery), CTX)
    assert isinstance(result, Rejected) and result.ignored and result.reason == "no_messages"


def test_instagram_uses_its_own_object_and_prefix() -> None:
    result = parse_instagram(
        messenger(text_item("ig-1", "hi"), kind="instagram", page="17841"), CTX
    )
    assert isinstance(result, Parsed)
    assert result.events[0].event_id == "instagram:ig-1"
    assert result.events[0].source == "instagram:17841"
    wrong = parse_messenger(messenger(text_item("ig-1", "hi"), kind="instagram"), CTX)
    assert isinstance(wrong, Rejected) and wrong.reason == "wrong_object" and not wrong.ignored


def test_a_broken_item_is_reported_but_does_not_hide_the_good_ones() -> None:
    result = parse_messenger(messenger(text_item("m-1", "ok"), {"message": {"mid": "x"}}), CTX)
    assert isinstance(result, Parsed) and len(result.events) == 1
    (bad,) = result.skipped
    assert (bad.reason, bad.ignored) == ("missing_field", False)
    assert "messaging[1].sender" in bad.detail


def test_viber_non_message_events_are_ignored() -> None:
    for event in ("webhook", "subscribed", "conversation_started", "delivered", "seen"):
        result = parse_viber(body({"event": event, "timestamp": 1, "message_token": 2}), CTX)
        assert isinstance(result, Rejected) and result.ignored, event
    missing = parse_viber(
        body({"event": "message", "message_token": 1, "sender": {"id": "u"}}), CTX
    )
    assert isinstance(missing, Rejected) and missing.reason == "missing_field"


CHAT_STARTED = {
    "type": "chat_started",
    "chat_id": "c-42",
    "visitor": {"id": "v-7", "name": "Ada", "email": "ada@example.org"},
    "button": "pricing",
    "department": "sales",
    "text": "Hi, how much is it?",
    "priority": 2,
    "occurred_at": 1_700_000_000.5,
}


def test_chat_started_and_message_are_the_same_ticket() -> None:
    started = parse_chat(body(CHAT_STARTED), CTX)
    assert isinstance(started, Parsed)
    (ev,) = started.events
    assert (ev.event_id, ev.channel, ev.source, ev.priority) == (
        "chat:c-42",
        "chat",
        "chat:pricing",
        2,
    )
    assert ev.customer == Customer("chat:v-7", "Ada", "ada@example.org")
    assert ev.attributes["department"] == "sales"
    message = {**CHAT_STARTED, "type": "chat_message", "message_id": "m-9", "text": "hello?"}
    del message["button"]
    again = parse_chat(body(message), CTX)
    assert isinstance(again, Parsed)
    assert again.events[0].event_id == "chat:c-42"
    assert again.events[0].source == "chat:sales"  # no button: the chosen department
    ended = parse_chat(body({"type": "chat_ended", "chat_id": "c-42"}), CTX)
    assert isinstance(ended, Rejected) and ended.ignored and ended.reason == "chat_ended"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"type": "chat_transferred"}, "unknown_chat_event"),
        ({"v": 2}, "unsupported_version"),
        ({"priority": 9}, "invalid_field"),
        ({"priority": True}, "invalid_field"),
        ({"visitor": None}, "missing_field"),
        ({"chat_id": ["x"]}, "invalid_field"),
    ],
)
def test_chat_schema_violations(change: dict[str, Any], reason: str) -> None:
    result = parse_chat(body({**CHAT_STARTED, **change}), CTX)
    assert isinstance(result, Rejected) and result.reason == reason, result


def test_canonical_round_trip_and_tenant_check() -> None:
    ev = InboundReceived(
        "e-1", "acme", "email", "email:help@acme.example", "conv", Customer("c"), 1.0
    )
    result = parse_canonical(encode(ev), CTX)
    assert isinstance(result, Parsed) and result.events == (ev,)
    other = parse_canonical(encode(ev), Context("globex"))
    assert isinstance(other, Rejected) and other.reason == "tenant_mismatch"
    broken = parse_canonical(b'{"type": "InboundReceived", "v": 1}', CTX)
    assert isinstance(broken, Rejected) and broken.reason == "missing_field"


@pytest.mark.parametrize(
    ("name", "raw", "reason"),
    [
        ("facebook", b"", "empty"),
        ("facebook", b"{not json", "malformed_json"),
        ("twitter", b'{"a": "\xff"}', "invalid_utf8"),
        ("viber", b"[1, 2]", "not_an_object"),
        ("call", b"CallSid=CA1&CallStatus=%ff", "invalid_utf8"),
        ("call", b"CallSid=CA1&&=", "malformed_form"),
        ("call", b"CallStatus=ringing&From=%2B1", "missing_field"),
        ("call", b"CallSid=CA1&CallStatus=ringing", "missing_field"),
        ("call", b"CallSid=CA1&CallStatus=exploded&From=1", "unknown_call_status"),
        ("email", b"\x00\x01\x02 not mail", "not_rfc822"),
        ("email", b"Subject: no sender\r\n\r\nhello", "missing_sender"),
        ("nope", b"{}", "unknown_adapter"),
    ],
)
def test_bad_input_has_a_precise_reason(name: str, raw: bytes, reason: str) -> None:
    result = parse(name, raw, CTX)
    assert isinstance(result, Rejected) and result.reason == reason, result
    assert not result.ignored


def test_tenant_is_required() -> None:
    result = parse_viber(b"{}", Context(""))
    assert isinstance(result, Rejected) and result.reason == "missing_tenant"
