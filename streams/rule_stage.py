"""The rule stage's decode-and-route step, free of Faust so it is tested directly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rules import route
from schemas.codec import DecodeError, decode_as
from schemas.events import InboundReceived, TicketRouted
from schemas.tenant_config import TenantConfig
from streams import topics
from streams.skew import future_timestamp

_CHANNEL_OF_TOPIC = {t: c for c, t in topics.INBOUND.items()}


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str
    detail: str


def route_record(
    raw: bytes,
    topic: str,
    config_for: Callable[[str], TenantConfig | None],
    ingested_at: float,
    now: float,
    max_skew: float = 300.0,
) -> TicketRouted | Rejected:
    """Decode one inbound record and choose its department, or say why it is refused.

    ``ingested_at`` is the record's Kafka timestamp; it and the event's own time
    may be at most ``max_skew`` seconds ahead of ``now`` (:mod:`streams.skew`)."""
    ahead = future_timestamp(ingested_at, None, now, max_skew)
    if ahead:
        return Rejected("future_timestamp", ahead)
    try:
        event = decode_as(InboundReceived, raw)
    except DecodeError as exc:
        return Rejected(exc.reason, exc.detail)
    ahead = future_timestamp(ingested_at, event, now, max_skew)
    if ahead:
        return Rejected("future_timestamp", ahead)
    expected = _CHANNEL_OF_TOPIC.get(topic)
    if expected is not None and event.channel != expected:
        return Rejected("wrong_channel", f"channel {event.channel!r} on topic {topic}")
    config = config_for(event.tenant)
    if config is None:
        return Rejected("unknown_tenant", f"tenant {event.tenant!r} has no config")
    decision = route(config, event)
    return TicketRouted(
        ticket_id=event.event_id,
        tenant=event.tenant,
        channel=event.channel,
        source=event.source,
        conversation_id=event.conversation_id,
        department=decision.department or "",
        rule=decision.rule,
        config_version=config.version,
        priority=decision.priority,
        received_at=event.received_at,
        ingested_at=ingested_at,
        routed_at=now,
        reason=decision.reason,
        tags=decision.tags,
        preferred_agent=decision.preferred_agent,
        leave_unassigned=decision.leave_unassigned,
        skills=decision.skills,
        optional_skills=decision.optional_skills,
        explanation=decision.explanation(),
    )
