"""Event records that cross Kafka, and the codec that turns them into bytes and back."""

from schemas.codec import DecodeError, decode, decode_as, encode
from schemas.events import (
    CHANNELS,
    PRESENCES,
    AgentCapacityChanged,
    AgentEvent,
    AgentPresenceChanged,
    EventDeadLettered,
    InboundReceived,
    TicketAssigned,
    TicketQueued,
    TicketRouted,
    TicketUnroutable,
    WorkFinished,
)

__all__ = [
    "CHANNELS",
    "PRESENCES",
    "AgentCapacityChanged",
    "AgentEvent",
    "AgentPresenceChanged",
    "DecodeError",
    "EventDeadLettered",
    "InboundReceived",
    "TicketAssigned",
    "TicketQueued",
    "TicketRouted",
    "TicketUnroutable",
    "WorkFinished",
    "decode",
    "decode_as",
    "encode",
]
