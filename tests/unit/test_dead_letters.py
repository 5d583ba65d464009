"""Dead letters are always writable and readable, whatever the size of what they hold."""

from __future__ import annotations

import base64
import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import Rejected
from gateway.deadletter import dead_letter as gateway_dead_letter
from schemas.codec import MAX_RECORD_BYTES, decode, encode
from schemas.dead_letters import KEEP_BYTES, dead_letter
from schemas.events import EventDeadLettered
from streams.state_table import Marker, StateCodec, output


def letter(original: bytes, detail: str = "why") -> EventDeadLettered:
    return dead_letter(
        topic="deskroute.inbound.chat",
        partition=2,
        offset=7,
        reason="oversize",
        detail=detail,
        original=original,
        headers={"h": "v"},
        occurred_at=1.0,
    )


def test_an_original_up_to_the_limit_is_kept_whole() -> None:
    original = b"x" * KEEP_BYTES
    got = letter(original)
    assert base64.b64decode(got.original_b64) == original
    assert got.original_bytes == KEEP_BYTES
    assert got.original_sha256 == hashlib.sha256(original).hexdigest()


def test_a_larger_original_is_cut_and_says_what_it_was() -> None:
    original = bytes(range(256)) * (40 * 1024)  # 10 MiB
    got = letter(original, detail="d" * 5000)
    kept = base64.b64decode(got.original_b64)
    assert kept == original[:KEEP_BYTES]
    assert got.original_bytes == len(original)
    assert got.original_sha256 == hashlib.sha256(original).hexdigest()
    assert len(got.detail) == 1000


@settings(max_examples=25, deadline=None)
@given(size=st.integers(0, 3 * MAX_RECORD_BYTES))
def test_every_dead_letter_fits_a_record_and_decodes(size: int) -> None:
    raw = encode(letter(b"\xff" * size))
    assert len(raw) < MAX_RECORD_BYTES
    back = decode(raw)
    assert isinstance(back, EventDeadLettered) and back.original_bytes == size


def test_gateway_dead_letters_of_large_bodies_decode() -> None:
    body = b"<" * (5 << 20)
    got = gateway_dead_letter(
        "mail", "acme", body, {"content-type": "message/rfc822"}, Rejected("bad_mail", "no From")
    )
    back = decode(encode(got))
    assert isinstance(back, EventDeadLettered)
    assert back.original_bytes == len(body)
    assert back.headers["x-deskroute-original-bytes"] == str(len(body))
    assert base64.b64decode(back.original_b64) == body[:KEEP_BYTES]


def test_the_largest_dead_letter_fits_in_one_changelog_marker() -> None:
    """The assignment stage's batch marker repeats its outputs (for a resend after a
    crash); one holding the worst dead letter must still be one record under Kafka's
    default 1 MiB limit, control characters escaped and all."""
    nasty = "\x01" * 1000
    worst = dead_letter(
        topic="deskroute.tickets.routed",
        partition=3,
        offset=10**12,
        reason="oversize",
        detail=nasty,
        original=b"\x00" * (10 << 20),
        headers={f"{n:02d}{nasty}": nasty for n in range(64)},
        occurred_at=1.0,
    )
    marker = Marker(
        {"deskroute.tickets.routed": 10**12},
        1.0,
        "deskroute.tickets.routed",
        10**12,
        (output("deskroute.deadletter", b"tenant" * 40, encode(worst)),),
    )
    assert len(StateCodec()._dumps(marker)) < 1_048_588 - 1024
