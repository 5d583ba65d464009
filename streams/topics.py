"""Every topic deskroute reads or writes, with its partitioning and cleanup policy.

All topics that feed or hold routing state share one partition count and are
keyed by routing domain (tenant), so one domain's events and its table changelogs
land on the same partition number and one worker is their single writer.
"""

from __future__ import annotations

from dataclasses import dataclass

INBOUND = {
    "email": "deskroute.inbound.email",
    "social": "deskroute.inbound.social",
    "chat": "deskroute.inbound.chat",
    "call": "deskroute.inbound.call",
}
AGENT_EVENTS = "deskroute.agents.events"
ROUTED = "deskroute.tickets.routed"
ASSIGNED = "deskroute.tickets.assigned"
QUEUED = "deskroute.tickets.queued"
UNROUTABLE = "deskroute.tickets.unroutable"
DEADLETTER = "deskroute.deadletter"
#: Offers ringing for agents, and how each ended (missed, withdrawn).
OFFERS = "deskroute.offers"
#: Waiting work moved to another department (overflow after a wait, or a rule).
ESCALATED = "deskroute.tickets.escalated"
CONFIG = "deskroute.config"

#: Faust tables of the assignment stage; changelogs are ``{app_id}-{name}-changelog``.
TABLES = ("state",)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    compacted: bool = False


def all_topics(app_id: str) -> list[TopicSpec]:
    specs = [TopicSpec(t) for t in INBOUND.values()]
    specs += [
        TopicSpec(t)
        for t in (
            AGENT_EVENTS,
            ROUTED,
            ASSIGNED,
            QUEUED,
            UNROUTABLE,
            DEADLETTER,
            OFFERS,
            ESCALATED,
        )
    ]
    specs.append(TopicSpec(CONFIG, compacted=True))
    specs += [TopicSpec(changelog_topic(app_id, t), compacted=True) for t in TABLES]
    return specs


def changelog_topic(app_id: str, table: str) -> str:
    return f"{app_id}-{table}-changelog"
