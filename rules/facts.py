"""The ticket as rule conditions see it, and how each field is read from it.

Fields are read through getters chosen when the rules are compiled, so an event
costs one function call per condition and no parsing of field names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rules.vocabulary import DEFAULT_TRIGGER
from schemas.events import InboundReceived


@dataclass(slots=True)
class Facts:
    """One evaluation's ticket. ``department``, ``priority`` and ``tags`` start from
    the event (or the queue it waits in) and change as matched rules act, so a later
    rule sees what an earlier one with ``stop: false`` did."""

    event: InboundReceived
    #: The clock of time conditions: the event's own time, so replays and
    #: ``deskroute explain`` decide as the worker did.
    now: float
    triggers: frozenset[str]
    department: str = ""
    wait_s: float | None = None
    priority: int = 3
    tags: list[str] = field(default_factory=list)


def inbound_triggers(event: InboundReceived) -> frozenset[str]:
    """``ticket_created`` always (each inbound event is its own ticket here), plus
    ``message_added`` for evident follow-ups and ``call_missed`` for missed calls."""
    attrs = event.attributes
    triggers = {DEFAULT_TRIGGER}
    if attrs.get("in_reply_to") or attrs.get("chat_event") == "chat_message":
        triggers.add("message_added")
    if attrs.get("missed") is True:
        triggers.add("call_missed")
    return frozenset(triggers)


def facts_for(
    event: InboundReceived,
    *,
    triggers: Iterable[str] | None = None,
    now: float | None = None,
    department: str = "",
    wait_s: float | None = None,
) -> Facts:
    tags = event.attributes.get("tags")
    return Facts(
        event,
        event.received_at if now is None else now,
        inbound_triggers(event) if triggers is None else frozenset(triggers),
        department,
        wait_s,
        event.priority,
        [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else [],
    )


Getter = Callable[[Facts], Any]


def _after(prefix: str) -> Getter:
    n = len(prefix)

    def get(f: Facts) -> str:
        source = f.event.source
        return source[n:] if source.startswith(prefix) else ""

    return get


def _domain(f: Facts) -> str:
    email = f.event.customer.email
    return email.rpartition("@")[2].lower() if "@" in email else ""


def _customer_attr(name: str) -> Getter:
    def get(f: Facts) -> Any:
        attrs = f.event.attributes
        nested = attrs.get("customer")
        if isinstance(nested, dict) and name in nested:
            return nested[name]
        return attrs.get(name)

    return get


def _attribute(name: str) -> Getter:
    return lambda f: f.event.attributes.get(name)


GETTERS: dict[str, Getter] = {
    "channel": lambda f: f.event.channel,
    "source": lambda f: f.event.source,
    "mailbox": _after("email:"),
    "chat_button": _after("chat:"),
    "called_number": _after("call:"),
    "subject": lambda f: f.event.subject,
    "text": lambda f: f.event.text,
    "customer.email": lambda f: f.event.customer.email,
    "customer.domain": _domain,
    "customer.name": lambda f: f.event.customer.name,
    "customer.id": lambda f: f.event.customer.id,
    "language": lambda f: f.event.attributes.get("language"),
    "tags": lambda f: f.tags,
    "priority": lambda f: f.priority,
    "automatic": lambda f: f.event.attributes.get("automatic"),
    "missed": lambda f: f.event.attributes.get("missed") is True,
    "department": lambda f: f.department,
    "wait_s": lambda f: f.wait_s,
    "time": lambda f: f.now,
}


def getter(field_name: str) -> Getter:
    """The reader of a field the vocabulary accepts (``customer.<attr>``: the event's
    ``attributes.customer.<attr>``, else ``attributes.<attr>``)."""
    known = GETTERS.get(field_name)
    if known is not None:
        return known
    if field_name.startswith("customer."):
        return _customer_attr(field_name.removeprefix("customer."))
    if field_name.startswith("attributes."):
        return _attribute(field_name.removeprefix("attributes."))
    raise KeyError(field_name)
