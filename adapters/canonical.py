"""Gateways that already speak deskroute's schema: ``InboundReceived`` as the codec encodes it."""

from __future__ import annotations

from adapters.result import AdapterError, Context, Parsed, Result, adapter
from schemas.codec import DecodeError, decode_as
from schemas.events import InboundReceived


@adapter
def parse_canonical(body: bytes, ctx: Context) -> Result:
    """The record, checked field by field; its tenant must be the caller's."""
    if not body.strip():
        raise AdapterError("empty", "the body is empty")
    try:
        event = decode_as(InboundReceived, body)
    except DecodeError as exc:
        raise AdapterError(exc.reason, exc.detail) from None
    if event.tenant != ctx.tenant:
        raise AdapterError(
            "tenant_mismatch", f"event tenant {event.tenant!r}, route tenant {ctx.tenant!r}"
        )
    return Parsed((event,))
