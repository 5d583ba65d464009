"""Fuzzing every adapter: any input gives canonical events or a typed rejection, nothing else.

``adapter_failure`` is the adapters' last-resort reason for an unforeseen
exception, so seeing it here is a failure like a traceback would be.
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters import ADAPTERS, Context, Parsed, Rejected, Result, parse
from schemas.codec import decode, encode

CTX = Context("acme", {"x-envelope-to": "help@acme.example"}, 1_700_000_000.0)
#: ``FUZZ_EXAMPLES=5000 pytest tests/unit/test_adapters_fuzz.py`` for a deeper run.
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def check(result: Result) -> None:
    if isinstance(result, Rejected):
        assert result.reason != "adapter_failure", result
        assert result.reason and isinstance(result.detail, str)
        return
    assert isinstance(result, Parsed) and result.events
    for event in result.events:
        assert event.tenant == "acme"
        assert decode(encode(event)) == event


@FUZZ
@given(name=st.sampled_from(sorted(ADAPTERS)), raw=st.binary(max_size=2000))
def test_arbitrary_bytes(name: str, raw: bytes) -> None:
    check(parse(name, raw, CTX))


# Keys the adapters look for, so that generated JSON reaches deep into them.
KEYS = st.sampled_from(
    [
        "object", "entry", "id", "messaging", "sender", "recipient", "timestamp", "message",
        "mid", "text", "is_echo", "attachments", "type", "payload", "url", "postback", "title",
        "for_user_id", "direct_message_events", "tweet_create_events", "users", "message_create",
        "message_data", "sender_id", "target", "created_timestamp", "id_str", "user", "name",
        "screen_name", "extended_tweet", "full_text", "in_reply_to_status_id_str", "timestamp_ms",
        "event", "message_token", "chat_id", "visitor", "button", "department", "priority", "v",
        "message_id", "occurred_at", "tenant", "event_id", "channel", "source", "customer",
        "conversation_id", "received_at", "attributes", "retweeted_status", "quick_reply",
    ]
)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["page", "instagram", "message", "message_create", "chat_started", "chat_message", "chat_ended", "email", "social", "InboundReceived", "acme", "1", "123"])
)  # fmt: skip
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=40,
)


@FUZZ
@given(name=st.sampled_from(sorted(ADAPTERS)), obj=st.dictionaries(KEYS, JSON, max_size=8))
def test_arbitrary_json_objects(name: str, obj: dict[str, Any]) -> None:
    check(parse(name, orjson.dumps(obj), CTX))


FORM_KEYS = st.sampled_from(
    [
        "CallSid",
        "CallStatus",
        "From",
        "To",
        "Caller",
        "Called",
        "Direction",
        "Timestamp",
        "CallerName",
        "X",
    ]
)
FORM_VALUES = st.text(max_size=40) | st.sampled_from(
    [
        "ringing",
        "in-progress",
        "completed",
        "no-answer",
        "busy",
        "failed",
        "inbound",
        "outbound-api",
        "CA1",
        "+15550100",
    ]
)


@FUZZ
@given(pairs=st.lists(st.tuples(FORM_KEYS, FORM_VALUES), max_size=8))
def test_arbitrary_forms(pairs: list[tuple[str, str]]) -> None:
    try:
        raw = urllib.parse.urlencode(pairs).encode()
    except UnicodeEncodeError:  # lone surrogates cannot be sent at all
        return
    check(parse("call", raw, CTX))


HEADER_NAMES = st.sampled_from(
    [
        "From", "To", "Cc", "Sender", "Subject", "Message-ID", "In-Reply-To", "References",
        "Date", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
        "Auto-Submitted", "Precedence", "Delivered-To", "X-Original-To", "Return-Path", "MIME-Version",
    ]
)  # fmt: skip
HEADER_VALUES = st.text(max_size=60) | st.sampled_from(
    [
        "multipart/mixed; boundary=b", "multipart/report; report-type=delivery-status; boundary=b",
        "multipart/alternative; boundary=b", "text/html; charset=gb2312", "text/plain; charset=x-unknown",
        "base64", "quoted-printable", "attachment; filename*=utf-8''%E2%9C%93.txt",
        "=?utf-8?q?caf=C3=A9?=", "=?bogus?b?AAAA?=", "<a@b> <c@d>", "Ann <ann@example.org>",
        "undisclosed-recipients:;", "auto-replied", "bulk", "<>", "\"broken <x@y",
    ]
)  # fmt: skip
PARTS = st.lists(st.tuples(HEADER_VALUES, st.binary(max_size=200)), max_size=4)


@FUZZ
@given(
    headers=st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=10),
    preamble=st.binary(max_size=100),
    parts=PARTS,
)
def test_arbitrary_mail(
    headers: list[tuple[str, str]], preamble: bytes, parts: list[tuple[str, bytes]]
) -> None:
    head = "".join(f"{n}: {v}\r\n" for n, v in headers).encode("utf-8", "surrogateescape")
    body = (
        preamble
        + b"".join(
            b"\r\n--b\r\nContent-Type: "
            + ct.encode("utf-8", "surrogateescape")
            + b"\r\n\r\n"
            + data
            for ct, data in parts
        )
        + b"\r\n--b--\r\n"
    )
    check(parse("email", head + b"\r\n" + body, CTX))
