"""Flat, past-tense event records: what happened, never what to do.

Every record carries ``type`` and ``v`` (schema version) on the wire so a reader
can tell an old or foreign record from a malformed one. Times are Unix epoch
seconds (float) so that replays and the simulator need no time-zone handling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

Channel = Literal["email", "social", "chat", "call"]
Presence = Literal["online", "away", "break", "offline"]

CHANNELS: tuple[Channel, ...] = ("email", "social", "chat", "call")
PRESENCES: tuple[Presence, ...] = ("online", "away", "break", "offline")

#: Priority 1 is the most urgent; queues serve lower numbers first.
PRIORITY_MIN = 1
PRIORITY_MAX = 5
PRIORITY_DEFAULT = 3


def _require_ids(**ids: str) -> None:
    """Raise for the first empty id. Records built per event check ``all`` of their ids
    inline first and call this only to name the culprit: the keyword dict alone cost
    more than the check."""
    for name, value in ids.items():
        if not value:
            raise ValueError(f"{name}: must not be empty")


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    name: str = ""
    email: str = ""


@dataclass(frozen=True, slots=True)
class InboundReceived:
    """A customer's message as a channel gateway handed it over, in canonical form."""

    TYPE: ClassVar[str] = "InboundReceived"
    VERSION: ClassVar[int] = 1

    event_id: str
    tenant: str
    channel: Channel
    source: str
    conversation_id: str
    customer: Customer
    received_at: float
    subject: str = ""
    text: str = ""
    priority: int = PRIORITY_DEFAULT
    attributes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (self.event_id and self.tenant):
            _require_ids(event_id=self.event_id, tenant=self.tenant)
        if not PRIORITY_MIN <= self.priority <= PRIORITY_MAX:
            raise ValueError(f"priority: {self.priority} outside {PRIORITY_MIN}..{PRIORITY_MAX}")


@dataclass(frozen=True, slots=True)
class AgentPresenceChanged:
    TYPE: ClassVar[str] = "AgentPresenceChanged"
    VERSION: ClassVar[int] = 1

    event_id: str
    tenant: str
    agent_id: str
    presence: Presence
    occurred_at: float

    def __post_init__(self) -> None:
        if not (self.event_id and self.tenant and self.agent_id):
            _require_ids(event_id=self.event_id, tenant=self.tenant, agent_id=self.agent_id)


@dataclass(frozen=True, slots=True)
class AgentCapacityChanged:
    """Per-channel capacity replaced for one agent (0 disables a channel)."""

    TYPE: ClassVar[str] = "AgentCapacityChanged"
    VERSION: ClassVar[int] = 1

    event_id: str
    tenant: str
    agent_id: str
    capacity: dict[str, int]
    occurred_at: float

    def __post_init__(self) -> None:
        if not (self.event_id and self.tenant and self.agent_id):
            _require_ids(event_id=self.event_id, tenant=self.tenant, agent_id=self.agent_id)
        for channel, n in self.capacity.items():
            if channel not in CHANNELS:
                raise ValueError(f"capacity.{channel}: unknown channel")
            if n < 0:
                raise ValueError(f"capacity.{channel}: {n} is negative")


@dataclass(frozen=True, slots=True)
class WorkFinished:
    """An agent closed (solved, ended, hung up) a piece of work, freeing capacity."""

    TYPE: ClassVar[str] = "WorkFinished"
    VERSION: ClassVar[int] = 1

    event_id: str
    tenant: str
    agent_id: str
    ticket_id: str
    occurred_at: float

    def __post_init__(self) -> None:
        if not (self.event_id and self.tenant and self.agent_id):
            _require_ids(event_id=self.event_id, tenant=self.tenant, agent_id=self.agent_id)


@dataclass(frozen=True, slots=True)
class OfferAccepted:
    """The agent took a chat or call that was offered to them."""

    TYPE: ClassVar[str] = "OfferAccepted"
    VERSION: ClassVar[int] = 1

    event_id: str
    tenant: str
    agent_id: str
    ticket_id: str
    occurred_at: float

    def __post_init__(self) -> None:
        if not (self.event_id and self.tenant and self.agent_id and self.ticket_id):
            _require_ids(
                event_id=self.event_id,
                tenant=self.tenant,
                agent_id=self.agent_id,
                ticket_id=self.ticket_id,
            )


@dataclass(frozen=True, slots=True)
class OfferDeclined:
    """The agent refused an offer; it moves on to the next agent."""

    TYPE: ClassVar[str] = "OfferDeclined"
    VERSION: ClassVar[int] = 1

    event_id: str
    tenant: str
    agent_id: str
    ticket_id: str
    occurred_at: float
    reason: str = ""

    def __post_init__(self) -> None:
        if not (self.event_id and self.tenant and self.agent_id and self.ticket_id):
            _require_ids(
                event_id=self.event_id,
                tenant=self.tenant,
                agent_id=self.agent_id,
                ticket_id=self.ticket_id,
            )


@dataclass(frozen=True, slots=True)
class TicketTaken:
    """An agent pulled a waiting ticket from a department queue ("to solve")."""

    TYPE: ClassVar[str] = "TicketTaken"
    VERSION: ClassVar[int] = 1

    event_id: str
    tenant: str
    agent_id: str
    ticket_id: str
    occurred_at: float

    def __post_init__(self) -> None:
        if not (self.event_id and self.tenant and self.agent_id and self.ticket_id):
            _require_ids(
                event_id=self.event_id,
                tenant=self.tenant,
                agent_id=self.agent_id,
                ticket_id=self.ticket_id,
            )


AgentEvent = (
    AgentPresenceChanged
    | AgentCapacityChanged
    | WorkFinished
    | OfferAccepted
    | OfferDeclined
    | TicketTaken
)


@dataclass(frozen=True, slots=True)
class ClockTicked:
    """Time passed for one routing domain: offers expire, waiting work escalates.

    Produced by the worker that owns the domain's partition into the assignment
    stage's own input, so a timeout is decided at a recorded position in the
    stream and a replay after a crash decides it again exactly the same way.
    """

    TYPE: ClassVar[str] = "ClockTicked"
    VERSION: ClassVar[int] = 1

    tenant: str
    at: float

    def __post_init__(self) -> None:
        if not (self.tenant):
            _require_ids(tenant=self.tenant)


@dataclass(frozen=True, slots=True)
class TicketRouted:
    """The rule stage's verdict; ``rule`` names the rule that matched.

    An empty ``department`` means no rule could place the ticket (``reason`` says
    why); the assignment stage turns it into ``TicketUnroutable`` so that every
    outcome, including this one, is decided once, by the stage that deduplicates.
    """

    TYPE: ClassVar[str] = "TicketRouted"
    VERSION: ClassVar[int] = 1

    ticket_id: str
    tenant: str
    channel: Channel
    source: str
    conversation_id: str
    department: str
    rule: str
    config_version: int
    priority: int
    received_at: float
    ingested_at: float
    routed_at: float
    reason: str = ""
    #: The ticket's tags after the rules (the event's ``attributes.tags``, then
    #: ``add_tag``/``remove_tag`` actions).
    tags: tuple[str, ...] = ()
    #: A rule's ``assign_agent``: the agent who gets the ticket if they can take it
    #: now (online, in the department, room on the channel); otherwise the
    #: department's strategy decides and the queue reason says why not.
    preferred_agent: str = ""
    #: A rule's ``leave_unassigned``: the ticket waits in the department queue until
    #: an agent takes it (``TicketTaken``); no strategy assigns it.
    leave_unassigned: bool = False
    #: Skills an agent must have (name -> minimum level), e.g. ``{"language:de": 1}``.
    skills: dict[str, int] = field(default_factory=dict)
    #: Skills preferred at first; after the department's ``relax_after_s`` of waiting
    #: they are no longer required (the bullseye widens).
    optional_skills: dict[str, int] = field(default_factory=dict)
    #: How the rules decided, compact (``rules.RouteDecision.explanation``); empty on
    #: records written before rules explained themselves.
    explanation: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TicketAssigned:
    """A ticket went to an agent; ``explanation`` says who else was considered and why not."""

    TYPE: ClassVar[str] = "TicketAssigned"
    VERSION: ClassVar[int] = 1

    ticket_id: str
    tenant: str
    department: str
    channel: Channel
    agent_id: str
    strategy: str
    explanation: dict[str, Any]
    ingested_at: float
    assigned_at: float
    waited_s: float


@dataclass(frozen=True, slots=True)
class TicketOffered:
    """A chat or call rings for one agent (or, ring-all, for several) until ``expires_at``."""

    TYPE: ClassVar[str] = "TicketOffered"
    VERSION: ClassVar[int] = 1

    ticket_id: str
    tenant: str
    department: str
    channel: Channel
    agent_ids: tuple[str, ...]
    strategy: str
    expires_at: float
    explanation: dict[str, Any]
    ingested_at: float
    offered_at: float
    #: How long it waited in the queue before this offer (0: offered on arrival).
    waited_s: float = 0.0


@dataclass(frozen=True, slots=True)
class OfferMissed:
    """An offer ended without the agent taking it: ``timeout``, ``declined`` or
    ``agent_unavailable`` (they went away, on break or offline while it rang)."""

    TYPE: ClassVar[str] = "OfferMissed"
    VERSION: ClassVar[int] = 1

    ticket_id: str
    tenant: str
    department: str
    channel: Channel
    agent_id: str
    reason: str
    occurred_at: float


@dataclass(frozen=True, slots=True)
class OfferWithdrawn:
    """An offer stopped ringing because somebody else took the work (ring-all) or the
    customer left; the agent did nothing wrong, so it is not a missed offer."""

    TYPE: ClassVar[str] = "OfferWithdrawn"
    VERSION: ClassVar[int] = 1

    ticket_id: str
    tenant: str
    department: str
    channel: Channel
    agent_id: str
    reason: str
    occurred_at: float


@dataclass(frozen=True, slots=True)
class TicketEscalated:
    """Waiting work moved to another department: the overflow after the configured
    wait, or a ``queue_wait`` / ``agent_offline`` rule's transfer."""

    TYPE: ClassVar[str] = "TicketEscalated"
    VERSION: ClassVar[int] = 1

    ticket_id: str
    tenant: str
    channel: Channel
    from_department: str
    to_department: str
    waited_s: float
    reason: str
    rule: str
    occurred_at: float


@dataclass(frozen=True, slots=True)
class TicketQueued:
    TYPE: ClassVar[str] = "TicketQueued"
    VERSION: ClassVar[int] = 1

    ticket_id: str
    tenant: str
    department: str
    channel: Channel
    priority: int
    position: int
    reason: str
    queued_at: float


@dataclass(frozen=True, slots=True)
class TicketUnroutable:
    TYPE: ClassVar[str] = "TicketUnroutable"
    VERSION: ClassVar[int] = 1

    ticket_id: str
    tenant: str
    channel: str
    reason: str
    occurred_at: float


@dataclass(frozen=True, slots=True)
class EventDeadLettered:
    """Input that could not be accepted, kept so that nothing is lost: whole up to
    :data:`schemas.dead_letters.KEEP_BYTES`, else its first bytes, with the size and
    SHA-256 of the whole to find the original by (a dead letter must itself fit
    in a record and be readable)."""

    TYPE: ClassVar[str] = "EventDeadLettered"
    VERSION: ClassVar[int] = 1

    topic: str
    partition: int
    offset: int
    reason: str
    detail: str
    original_b64: str
    headers: dict[str, str]
    occurred_at: float
    #: Size of the whole original; more than ``original_b64`` holds when it was cut.
    original_bytes: int = -1
    original_sha256: str = ""
