"""Per-agent, per-department and per-ticket routing state, and its pure transitions."""

from agents_state.model import (
    AgentState,
    DepartmentState,
    OfferDeadline,
    QueueEntry,
    TicketState,
    state_key,
)
from agents_state.transitions import (
    MemoryState,
    StateView,
    Transition,
    on_agent_event,
    on_clock_ticked,
    on_ticket_routed,
    waiting_work,
    withdraw_ticket,
)

__all__ = [
    "AgentState",
    "DepartmentState",
    "MemoryState",
    "OfferDeadline",
    "QueueEntry",
    "StateView",
    "TicketState",
    "Transition",
    "on_agent_event",
    "on_clock_ticked",
    "on_ticket_routed",
    "state_key",
    "waiting_work",
    "withdraw_ticket",
]
