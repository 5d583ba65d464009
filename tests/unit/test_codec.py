"""The orjson codec: every record round-trips; bad bytes fail with a typed, stable reason."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import (
    MAX_RECORD_BYTES,
    MAX_TEXT_CHARS,
    RECORD_TYPES,
    DecodeError,
    decode,
    decode_as,
    encode,
)
from schemas.events import (
    AgentCapacityChanged,
    AgentEvent,
    AgentPresenceChanged,
    ClockTicked,
    Customer,
    EventDeadLettered,
    InboundReceived,
    OfferAccepted,
    OfferDeclined,
    OfferMissed,
    OfferWithdrawn,
    TicketAssigned,
    TicketEscalated,
    TicketOffered,
    TicketQueued,
    TicketRouted,
    TicketTaken,
    TicketUnroutable,
    WorkFinished,
)
from schemas.tenant_config import AgentConfig, DepartmentConfig, RuleConfig, TenantConfig

REASONS = {
    "malformed_json",
    "invalid_utf8",
    "oversize",
    "not_an_object",
    "unknown_type",
    "unsupported_version",
    "missing_field",
    "invalid_field",
}

INBOUND = InboundReceived(
    event_id="in-1",
    tenant="acme",
    channel="email",
    source="email:help@acme.example",
    conversation_id="conv-1",
    customer=Customer("c-1", "Ada", "ada@example.org"),
    received_at=1_700_000_000.25,
    subject="Invoice",
    text="Hello — ünïcode ✓",
    priority=2,
    attributes={"lang": "en", "vip": True, "tags": ["a", "b"], "n": 3, "nested": {"x": None}},
)

SAMPLES: list[Any] = [
    INBOUND,
    InboundReceived("in-2", "acme", "chat", "chat:web", "c2", Customer("c"), 5.0),
    AgentPresenceChanged("ev-1", "acme", "ann", "break", 12.5),
    AgentCapacityChanged("ev-2", "acme", "ann", {"chat": 0, "email": 7}, 13.0),
    WorkFinished("ev-3", "acme", "ann", "in-1", 14.0),
    TicketRouted(
        "in-1", "acme", "email", "email:x", "conv-1", "billing", "r1", 4, 2, 1.0, 2.0, 3.0
    ),
    TicketRouted("in-3", "acme", "call", "call:+1", "c3", "", "", 4, 3, 1.0, 2.0, 3.0, "no rule"),
    TicketAssigned(
        "in-1",
        "acme",
        "billing",
        "email",
        "ann",
        "least-load",
        {"score": "load 0/3", "candidates": [{"agent": "ann", "load": 0, "capacity": 3}]},
        2.0,
        4.0,
        1.5,
    ),
    TicketQueued("in-2", "acme", "sales", "chat", 1, 3, "behind 2 waiting item(s)", 9.0),
    TicketUnroutable("in-3", "acme", "call", "no rule matched", 9.5),
    OfferAccepted("ev-4", "acme", "ann", "in-2", 15.0),
    OfferDeclined("ev-5", "acme", "bob", "in-2", 15.5, "busy"),
    TicketTaken("ev-6", "acme", "ann", "in-1", 16.0),
    ClockTicked("acme", 17.0),
    TicketOffered(
        "in-2", "acme", "sales", "chat", ("ann", "bob"), "ring-all", 45.0, {"score": "x"}, 1.0, 15.0
    ),
    OfferMissed("in-2", "acme", "sales", "chat", "bob", "timeout", 45.0),
    OfferWithdrawn("in-2", "acme", "sales", "chat", "bob", "taken by ann", 16.0),
    TicketEscalated("in-2", "acme", "chat", "sales", "support", 120.0, "waited 120s", "", 17.0),
    EventDeadLettered(
        "deskroute.inbound.chat", 3, 42, "malformed_json", "line 1", "e30=", {"h": "v"}, 10.0
    ),
    TenantConfig(
        "acme",
        7,
        {
            "sales": DepartmentConfig("sales", "Sales", "round-robin", {"call": "least-load"}),
            "support": DepartmentConfig("support"),
        },
        {
            "ann": AgentConfig("ann", "Ann", ("sales", "support"), {"chat": 2, "email": 5}, 10),
            "bob": AgentConfig("bob"),
        },
        (
            RuleConfig("r1", "sales", ("chat",), ("chat:pricing",), ()),
            RuleConfig("r2", "support", (), (), ("email:help", "email:support")),
        ),
        "support",
    ),
]


def test_samples_cover_every_record_type() -> None:
    assert {type(s) for s in SAMPLES} == set(RECORD_TYPES.values())


@pytest.mark.parametrize("record", SAMPLES, ids=lambda r: type(r).__name__)
def test_round_trip(record: Any) -> None:
    raw = encode(record)
    assert decode(raw) == record
    assert decode_as(type(record), raw) == record
    body = orjson.loads(raw)
    assert list(body)[:2] == ["type", "v"]
    assert body["type"] == type(record).TYPE
    assert body["v"] == type(record).VERSION


def test_round_trip_keeps_types() -> None:
    back = decode(encode(SAMPLES[-1]))
    assert isinstance(back, TenantConfig)
    assert isinstance(back.departments["sales"], DepartmentConfig)
    assert isinstance(back.agents["ann"], AgentConfig)
    assert back.agents["ann"].departments == ("sales", "support")
    assert isinstance(back.rules, tuple)
    assert isinstance(back.rules[0], RuleConfig)
    inbound = decode(encode(INBOUND))
    assert isinstance(inbound.customer, Customer)


def test_integer_times_decode_as_floats() -> None:
    raw = orjson.dumps(
        {"type": "WorkFinished", "v": 1, "event_id": "e", "tenant": "t"}
        | {"agent_id": "a", "ticket_id": "x", "occurred_at": 5}
    )
    ev = decode(raw)
    assert ev == WorkFinished("e", "t", "a", "x", 5.0)
    assert isinstance(ev.occurred_at, float)


def test_defaults_fill_optional_fields() -> None:
    body = orjson.loads(encode(INBOUND))
    for optional in ("subject", "text", "priority", "attributes"):
        del body[optional]
    del body["v"]  # an absent version means the current one
    ev = decode_as(InboundReceived, orjson.dumps(body))
    assert ev.priority == 3
    assert ev.attributes == {}
    assert ev.subject == ""


def test_decode_as_union() -> None:
    for record in SAMPLES[2:5]:
        assert decode_as(AgentEvent, encode(record)) == record  # type: ignore[arg-type]
    with pytest.raises(DecodeError) as info:
        decode_as(AgentEvent, encode(INBOUND))  # type: ignore[arg-type]
    assert info.value.reason == "unknown_type"


# --- every decode error is typed, with a stable reason ---------------------------------


def inbound_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(encode(INBOUND))
    for key, value in changes.items():
        if value is _DROP:
            del body[key]
        else:
            body[key] = value
    return body


_DROP = object()


def reason_of(raw: bytes, cls: type[Any] | None = None) -> str:
    with pytest.raises(DecodeError) as info:
        if cls is None:
            decode(raw)
        else:
            decode_as(cls, raw)
    assert type(info.value) is DecodeError
    assert info.value.reason in REASONS
    assert str(info.value).startswith(info.value.reason + ": ")
    return info.value.reason


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "malformed_json"),
        (b"{", "malformed_json"),
        (b"{'type': 'x'}", "malformed_json"),
        (b'{"a": 1,}', "malformed_json"),
        (b"NaN", "malformed_json"),
        (b'{"type": "WorkFinished", "occurred_at": 1e999}', "malformed_json"),
        (b'{"type": "\xff\xfe"}', "invalid_utf8"),
        (b"\xc3\x28", "invalid_utf8"),
        (b" " * (MAX_RECORD_BYTES + 1), "oversize"),
        (b"[]", "not_an_object"),
        (b"null", "not_an_object"),
        (b'"text"', "not_an_object"),
        (b"42", "not_an_object"),
        (b"{}", "unknown_type"),
        (b'{"type": "TicketExploded"}', "unknown_type"),
        (b'{"type": ["InboundReceived"]}', "unknown_type"),
        (b'{"type": null}', "unknown_type"),
    ],
)
def test_byte_level_errors(raw: bytes, reason: str) -> None:
    assert reason_of(raw) == reason
    assert reason_of(raw, InboundReceived) == reason


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"v": 2}, "unsupported_version"),
        ({"v": 0}, "unsupported_version"),
        ({"v": "1"}, "unsupported_version"),
        ({"event_id": _DROP}, "missing_field"),
        ({"customer": _DROP}, "missing_field"),
        ({"customer": {"name": "no id"}}, "missing_field"),
        ({"event_id": 7}, "invalid_field"),
        ({"event_id": ""}, "invalid_field"),
        ({"tenant": ""}, "invalid_field"),
        ({"channel": "fax"}, "invalid_field"),
        ({"priority": 0}, "invalid_field"),
        ({"priority": 6}, "invalid_field"),
        ({"priority": True}, "invalid_field"),
        ({"priority": 2.0}, "invalid_field"),
        ({"received_at": "yesterday"}, "invalid_field"),
        ({"received_at": False}, "invalid_field"),
        ({"customer": "c-1"}, "invalid_field"),
        ({"customer": {"id": 1}}, "invalid_field"),
        ({"attributes": []}, "invalid_field"),
        ({"text": "x" * (MAX_TEXT_CHARS + 1)}, "oversize"),
    ],
)
def test_field_level_errors(changes: dict[str, Any], reason: str) -> None:
    raw = orjson.dumps(inbound_body(**changes))
    assert reason_of(raw) == reason
    assert reason_of(raw, InboundReceived) == reason


def test_error_detail_names_the_field() -> None:
    with pytest.raises(DecodeError) as info:
        decode(orjson.dumps(inbound_body(customer={"id": 1})))
    assert "InboundReceived.customer.id" in info.value.detail
    with pytest.raises(DecodeError) as info:
        decode(orjson.dumps(inbound_body(conversation_id=_DROP)))
    assert info.value.detail == "InboundReceived.conversation_id"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            {"type": "AgentCapacityChanged", "event_id": "e", "tenant": "t", "agent_id": "a"}
            | {"capacity": {"chat": -1}, "occurred_at": 1},
            "invalid_field",
        ),
        (
            {"type": "AgentCapacityChanged", "event_id": "e", "tenant": "t", "agent_id": "a"}
            | {"capacity": {"fax": 1}, "occurred_at": 1},
            "invalid_field",
        ),
        (
            {"type": "AgentCapacityChanged", "event_id": "e", "tenant": "t", "agent_id": "a"}
            | {"capacity": {"chat": "2"}, "occurred_at": 1},
            "invalid_field",
        ),
        (
            {"type": "AgentPresenceChanged", "event_id": "e", "tenant": "t", "agent_id": ""}
            | {"presence": "online", "occurred_at": 1},
            "invalid_field",
        ),
        (
            {"type": "AgentPresenceChanged", "event_id": "e", "tenant": "t", "agent_id": "a"}
            | {"presence": "asleep", "occurred_at": 1},
            "invalid_field",
        ),
        (
            {"type": "TenantConfig", "tenant": "t", "version": 1, "agents": {}}
            | {"departments": {"d": {"name": "no id"}}},
            "missing_field",
        ),
        (
            {"type": "TenantConfig", "tenant": "t", "version": 1, "departments": {}}
            | {"agents": {"a": {"id": "a", "departments": "sales"}}},
            "invalid_field",
        ),
    ],
)
def test_other_records_errors(body: dict[str, Any], reason: str) -> None:
    assert reason_of(orjson.dumps(body)) == reason


def test_decode_as_refuses_another_record_type() -> None:
    assert reason_of(encode(SAMPLES[2]), InboundReceived) == "unknown_type"
    assert reason_of(encode(INBOUND), WorkFinished) == "unknown_type"


def test_decode_error_is_a_value_error() -> None:
    # Callers that catch ValueError (e.g. generic deserialisers) still catch it.
    assert issubclass(DecodeError, ValueError)


# --- properties: nothing but DecodeError, whatever the input ------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
type_names = st.sampled_from([*RECORD_TYPES, "", "Nope", "inboundreceived"])


@st.composite
def mutated_records(draw: st.DrawFn) -> dict[str, Any]:
    """A valid record's JSON with a few fields dropped, replaced or added."""
    body: dict[str, Any] = orjson.loads(encode(draw(st.sampled_from(SAMPLES))))
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from([*body, "extra", "v", "type"]))
        if draw(st.booleans()) and key in body:
            del body[key]
        else:
            body[key] = draw(json_values | type_names)
    return body


def decode_only_raises_decode_error(raw: bytes) -> None:
    for call in (lambda: decode(raw), lambda: decode_as(InboundReceived, raw)):
        try:
            call()
        except DecodeError as exc:
            assert exc.reason in REASONS, exc.reason


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_decode_error(raw: bytes) -> None:
    decode_only_raises_decode_error(raw)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_values_raise_only_decode_error(value: Any) -> None:
    decode_only_raises_decode_error(orjson.dumps(value))


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["type", "v", "event_id", "tenant", "channel", "customer", "x"])
        | st.text(max_size=8),
        json_values | type_names,
        max_size=8,
    )
)
def test_arbitrary_json_objects_raise_only_decode_error(obj: dict[str, Any]) -> None:
    decode_only_raises_decode_error(orjson.dumps(obj))


@settings(max_examples=400, deadline=None)
@given(mutated_records())
def test_mutated_records_raise_only_decode_error(obj: dict[str, Any]) -> None:
    decode_only_raises_decode_error(orjson.dumps(obj))


@settings(max_examples=150, deadline=None)
@given(
    st.builds(
        InboundReceived,
        event_id=st.text(min_size=1, max_size=10),
        tenant=st.text(min_size=1, max_size=10),
        channel=st.sampled_from(["email", "social", "chat", "call"]),
        source=st.text(max_size=10),
        conversation_id=st.text(max_size=10),
        customer=st.builds(Customer, st.text(max_size=5), st.text(max_size=5)),
        received_at=st.floats(allow_nan=False, allow_infinity=False),
        subject=st.text(max_size=20),
        text=st.text(max_size=50),
        priority=st.integers(1, 5),
        attributes=st.dictionaries(st.text(max_size=5), json_values, max_size=3),
    )
)
def test_inbound_round_trip_property(event: InboundReceived) -> None:
    assert decode_as(InboundReceived, encode(event)) == event
