"""The assignment stage's decision step, free of Faust: which core handler an input
record goes to, which topic each outcome goes to, and what each outcome counts."""

from __future__ import annotations

import logging
import time
from typing import Any

from agents_state import StateView, on_agent_event, on_clock_ticked, on_ticket_routed
from agents_state.transitions import Transition
from schemas.events import (
    AgentCapacityChanged,
    AgentPresenceChanged,
    ClockTicked,
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
from schemas.tenant_config import TenantConfig
from streams import metrics, topics

log = logging.getLogger("deskroute.worker")

#: What the assignment stage reads from its one input topic.
AssignmentInput = (
    TicketRouted
    | AgentPresenceChanged
    | AgentCapacityChanged
    | WorkFinished
    | OfferAccepted
    | OfferDeclined
    | TicketTaken
    | ClockTicked
)

OUTPUT_TOPIC: dict[type, str] = {
    TicketAssigned: topics.ASSIGNED,
    TicketQueued: topics.QUEUED,
    TicketUnroutable: topics.UNROUTABLE,
    TicketOffered: topics.OFFERS,
    OfferMissed: topics.OFFERS,
    OfferWithdrawn: topics.OFFERS,
    TicketEscalated: topics.ESCALATED,
}
_MISSED_OUTCOME = {"declined": "declined", "timeout": "timed_out"}


def run_core(view: StateView, config: TenantConfig, ev: Any, now: float) -> tuple[str, Transition]:
    """(metrics stage label, transition) for one decoded input record."""
    if isinstance(ev, TicketRouted):
        return "assignment", on_ticket_routed(view, config, ev, now)
    if isinstance(ev, ClockTicked):
        return "clock", on_clock_ticked(view, config, ev, now)
    return "agent_events", on_agent_event(view, config, ev, now)


def count_outcome(e: Any) -> None:
    """Metrics and a log line for one emitted outcome."""
    # Outcome logs carry ids as fields; every assignment only at debug level (a
    # log line costs ~20 us, a sizeable share of an event), the rarer outcomes at info.
    if isinstance(e, TicketAssigned):
        metrics.ASSIGNED.labels(e.department, e.strategy, e.channel).inc()
        if "offer" in e.explanation:
            # Its routing latency was observed when it was first offered.
            metrics.OFFERS.labels(e.channel, "accepted").inc()
        elif e.waited_s == 0:
            metrics.INGEST_TO_ASSIGN.labels(e.channel).observe(
                max(0.0, time.time() - e.ingested_at)
            )
        else:
            metrics.QUEUE_WAIT.labels(e.channel).observe(e.waited_s)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "ticket assigned",
                extra={
                    "tenant": e.tenant,
                    "ticket_id": e.ticket_id,
                    "department": e.department,
                    "channel": e.channel,
                    "agent_id": e.agent_id,
                    "strategy": e.strategy,
                    "waited_s": e.waited_s,
                },
            )
    elif isinstance(e, TicketQueued):
        metrics.QUEUED.labels(e.department, e.channel).inc()
        log.info(
            "ticket queued",
            extra={
                "tenant": e.tenant,
                "ticket_id": e.ticket_id,
                "department": e.department,
                "channel": e.channel,
                "position": e.position,
                "reason": e.reason,
            },
        )
    elif isinstance(e, TicketUnroutable):
        metrics.UNROUTABLE.labels(e.channel).inc()
        log.info(
            "ticket unroutable",
            extra={
                "tenant": e.tenant,
                "ticket_id": e.ticket_id,
                "channel": e.channel,
                "reason": e.reason,
            },
        )
    elif isinstance(e, TicketOffered):
        metrics.OFFERS.labels(e.channel, "offered").inc(len(e.agent_ids))
        if e.waited_s == 0:
            metrics.INGEST_TO_ASSIGN.labels(e.channel).observe(
                max(0.0, time.time() - e.ingested_at)
            )
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "ticket offered",
                extra={
                    "tenant": e.tenant,
                    "ticket_id": e.ticket_id,
                    "department": e.department,
                    "channel": e.channel,
                    "agents": len(e.agent_ids),
                    "expires_at": e.expires_at,
                },
            )
    elif isinstance(e, OfferMissed):
        outcome = _MISSED_OUTCOME.get(e.reason, "agent_unavailable")
        metrics.OFFERS.labels(e.channel, outcome).inc()
        log.info(
            "offer missed",
            extra={
                "tenant": e.tenant,
                "ticket_id": e.ticket_id,
                "agent_id": e.agent_id,
                "channel": e.channel,
                "reason": e.reason,
            },
        )
    elif isinstance(e, OfferWithdrawn):
        metrics.OFFERS.labels(e.channel, "cancelled").inc()
    elif isinstance(e, TicketEscalated):
        metrics.ESCALATED.labels(e.from_department, e.channel).inc()
        if e.rule:
            metrics.RULE_MATCHES.labels(e.rule).inc()
        log.info(
            "ticket escalated",
            extra={
                "tenant": e.tenant,
                "ticket_id": e.ticket_id,
                "channel": e.channel,
                "from_department": e.from_department,
                "to_department": e.to_department,
                "waited_s": e.waited_s,
                "reason": e.reason,
                "rule": e.rule,
            },
        )
