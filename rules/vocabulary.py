"""The words a rule may use: triggers, fields (with the kind of value each holds), actions.

One table for the validator, the compiler and the README, so a field cannot be
accepted by one and unknown to another.
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["text", "int", "number", "bool", "list", "any", "time"]

#: An inbound event always fires ``ticket_created`` (every inbound event is a
#: ticket of its own in deskroute); ``message_added`` and ``call_missed`` fire in
#: addition when the event is a follow-up or a missed call. ``queue_wait`` and
#: ``agent_offline`` are fired by whoever watches queues and agents (see README).
TRIGGERS = ("ticket_created", "message_added", "call_missed", "queue_wait", "agent_offline")
INBOUND_TRIGGERS = frozenset(("ticket_created", "message_added", "call_missed"))
DEFAULT_TRIGGER = "ticket_created"

FIELDS: dict[str, Kind] = {
    "channel": "text",
    "source": "text",
    "mailbox": "text",
    "chat_button": "text",
    "called_number": "text",
    "subject": "text",
    "text": "text",
    "customer.email": "text",
    "customer.domain": "text",
    "customer.name": "text",
    "customer.id": "text",
    "language": "text",
    "tags": "list",
    "priority": "int",
    "automatic": "text",
    "missed": "bool",
    "department": "text",
    "wait_s": "number",
    "time": "time",
}
#: ``customer.<attr>`` and ``attributes.<key>`` read the event's attributes; any JSON value.
PREFIX_FIELDS = ("customer.", "attributes.")

#: Exact-match conditions on these fields are indexed: they never change while
#: rules run, and a help desk with thousands of rules has them by mailbox or number.
INDEXED_FIELDS = ("called_number", "chat_button", "mailbox", "source", "channel")
INDEXED_OPS = frozenset(("equals", "in"))

OPERATORS: dict[str, frozenset[Kind]] = {
    "equals": frozenset(("text", "int", "number", "bool", "list", "any")),
    "not_equals": frozenset(("text", "int", "number", "bool", "list", "any")),
    "in": frozenset(("text", "int", "number", "list", "any")),
    "not_in": frozenset(("text", "int", "number", "list", "any")),
    "contains": frozenset(("text", "list", "any")),
    "starts_with": frozenset(("text", "list", "any")),
    "ends_with": frozenset(("text", "list", "any")),
    "matches": frozenset(("text", "list", "any")),
    "gt": frozenset(("int", "number", "any")),
    "lt": frozenset(("int", "number", "any")),
    "gte": frozenset(("int", "number", "any")),
    "lte": frozenset(("int", "number", "any")),
    "is_set": frozenset(("text", "int", "number", "bool", "list", "any")),
    "not_set": frozenset(("text", "int", "number", "bool", "list", "any")),
    "within_hours": frozenset(("time",)),
    "outside_hours": frozenset(("time",)),
}
NO_VALUE_OPS = frozenset(("is_set", "not_set"))

#: Actions and what their value is: a department, a priority, a tag, an agent,
#: a reason, or nothing.
ACTIONS = {
    "transfer": "department",
    "escalate": "none",
    "drop": "reason",
    "set_priority": "priority",
    "add_tag": "tag",
    "remove_tag": "tag",
    "assign_agent": "agent",
    "leave_unassigned": "none",
    "require_skill": "skill",
    "prefer_skill": "skill",
}
#: Each of these decides where the ticket goes; a rule may hold at most one.
PLACING_ACTIONS = frozenset(("transfer", "escalate", "drop"))


def kind_of(field: str) -> Kind | None:
    """The kind of value ``field`` holds, or None for a field that does not exist."""
    kind = FIELDS.get(field)
    if kind is not None:
        return kind
    for prefix in PREFIX_FIELDS:
        if field.startswith(prefix) and len(field) > len(prefix):
            return "any"
    return None
