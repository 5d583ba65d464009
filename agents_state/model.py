"""Routing state as immutable values, one table row each.

Values are replaced, never mutated, because a table only logs what is assigned
to it. Load is not a counter: it is the number of open work ids an agent holds,
so applying the same assignment or finish twice cannot drift it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal, TypeVar

from schemas.events import Presence

#: Separates tenant and id in table keys; not a character ids are expected to hold.
KEY_SEP = "\x1f"

TicketStatus = Literal["queued", "offered", "assigned", "finished", "unroutable", "withdrawn"]


def state_key(tenant: str, ident: str) -> str:
    return f"{tenant}{KEY_SEP}{ident}"


C = TypeVar("C", bound=type)
V = TypeVar("V")


class _Factory:
    """The default of a field built by its default factory (shown as dataclasses do)."""

    def __repr__(self) -> str:
        return "<factory>"


def _twin(cls: type) -> type:
    """A plain class with the row class's slots, in the same order: the same memory
    layout, without the frozen ``__setattr__``. A row is filled in as its twin (plain
    attribute stores, the cheapest write there is) and becomes the row class before
    anyone else sees it; assigning ``__class__`` checks the layouts match."""
    return type(f"_{cls.__name__}Fill", (), {"__slots__": cls.__dict__["__slots__"]})


def _filled(cls: type, *, init: bool) -> Callable[..., Any]:
    """A function that builds an instance of the frozen, slotted dataclass ``cls`` by
    filling it in as its twin (``_twin``): its ``__init__`` (``init``), or a function
    called as the class is that returns the instance. A frozen dataclass's own
    ``__init__`` goes through ``object.__setattr__`` per field, which made building
    a row cost several times what it needs to.

    Same parameters, defaults and default factories, in field order; the class's
    ``__post_init__``, if it has one, runs on the finished instance as it would.
    """
    params, lines = [], []
    scope: dict[str, Any] = {
        "_FACTORY": _Factory(),
        "_TWIN": _twin(cls),
        "_CLS": cls,
        "_set_class": object.__setattr__,
        "_new": object.__new__,
    }
    for f in fields(cls):
        n = f.name
        value = n
        if f.default is not MISSING:
            scope[f"_default_{n}"] = f.default
            params.append(f"{n}=_default_{n}")
        elif f.default_factory is not MISSING:
            scope[f"_factory_{n}"] = f.default_factory
            params.append(f"{n}=_FACTORY")
            value = f"_factory_{n}() if {n} is _FACTORY else {n}"
        else:
            params.append(n)
        lines.append(f"    self.{n} = {value}\n")
    post = "    self.__post_init__()\n" if hasattr(cls, "__post_init__") else ""
    if init:
        head = (
            f"def __init__(self, {', '.join(params)}):\n    _set_class(self, '__class__', _TWIN)\n"
        )
        tail = f"    self.__class__ = _CLS\n{post}"
    else:
        head = f"def {cls.__name__}({', '.join(params)}):\n    self = _new(_TWIN)\n"
        tail = f"    self.__class__ = _CLS\n{post}    return self\n"
    exec(head + "".join(lines) + tail, scope)
    fn: Callable[..., Any] = scope["__init__" if init else cls.__name__]
    fn.__qualname__ = f"{cls.__qualname__}.__init__" if init else cls.__qualname__
    return fn


def _fast_init(cls: C) -> C:
    """The row class's ``__init__`` built by ``_filled``."""
    cls.__init__ = _filled(cls, init=True)  # type: ignore[misc]
    return cls


def builder(cls: Callable[..., V]) -> Callable[..., V]:
    """``cls`` itself for building records of a frozen, slotted dataclass, at half the
    cost (see ``_filled``): same arguments, same instance, ``__post_init__`` checks
    included. For records built once or more per event."""
    fn: Callable[..., V] = _filled(cls, init=False)  # type: ignore[arg-type]
    return fn


@_fast_init
@dataclass(frozen=True, slots=True)
class AgentState:
    agent_id: str
    presence: Presence = "offline"
    presence_since: float = 0.0
    #: channel -> ids of the open work items the agent holds, oldest first.
    open_work: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: channel -> capacity set at run time, overriding the configured one.
    capacity_override: dict[str, int] = field(default_factory=dict)
    last_assigned_at: float = 0.0
    #: channel -> tickets offered to the agent and not answered yet. An offer holds
    #: a slot, so accepting it can never take the agent over capacity.
    offers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def load(self, channel: str) -> int:
        return len(self.open_work.get(channel, ())) + len(self.offers.get(channel, ()))


@_fast_init
@dataclass(frozen=True, slots=True)
class QueueEntry:
    """A waiting ticket's place in line, derived from its row (``queues.entry_of``)."""

    ticket_id: str
    priority: int
    enqueued_at: float
    ingested_at: float
    #: Only some agents may take it (skills, or agents who already missed it): the
    #: drain looks past it when its department's free agents cannot.
    constrained: bool = False

    def sort_key(self) -> tuple[int, float, str]:
        """Priority first (1 most urgent), then age, then id for a total order."""
        return (self.priority, self.enqueued_at, self.ticket_id)


@_fast_init
@dataclass(frozen=True, slots=True, order=True)
class OfferDeadline:
    """When an open offer rings out; ordered by time, then ticket id."""

    expires_at: float
    ticket_id: str


@_fast_init
@dataclass(frozen=True, slots=True)
class DepartmentState:
    """What a department remembers besides its waiting work.

    The work that waits (its queues and pull lists) is not stored here: it is derived
    from the ticket rows (:mod:`agents_state.queues`), so a department row stays small
    however long its queues grow. Rows written before that still carry ``queues`` and
    ``pulls``; decoding ignores them."""

    #: channel -> department-order position of the agent who got the last item.
    cursors: dict[str, int] = field(default_factory=dict)
    #: Every open offer's deadline, soonest first: what a tick expires.
    offers: tuple[OfferDeadline, ...] = ()
    #: Clock time up to which waiting work was checked against wait thresholds.
    swept_at: float = 0.0


@_fast_init
@dataclass(frozen=True, slots=True)
class TicketState:
    ticket_id: str
    status: TicketStatus
    department: str
    channel: str
    priority: int
    ingested_at: float
    updated_at: float
    agent_id: str = ""
    #: When it entered its current department's queue (escalation resets it).
    enqueued_at: float = 0.0
    source: str = ""
    tags: tuple[str, ...] = ()
    #: Waits to be taken (``TicketTaken``); no strategy assigns it.
    pull: bool = False
    skills: dict[str, int] = field(default_factory=dict)
    optional_skills: dict[str, int] = field(default_factory=dict)
    #: While offered: who it rings for, until when, by which strategy.
    offered_to: tuple[str, ...] = ()
    offer_expires_at: float = 0.0
    offered_at: float = 0.0
    strategy: str = ""
    #: Agents who declined it or let an offer time out: not offered it again.
    missed_by: tuple[str, ...] = ()


Row = TypeVar("Row", AgentState, DepartmentState, TicketState)


def _replacer(cls: type[Row], changed: tuple[str, ...] | None = None) -> Callable[..., Row]:
    """``dataclasses.replace`` for one row class, generated as straight-line code.

    The generic version walks the fields and calls ``__init__`` on every change (a
    quarter of the simulator's time went there); this one fills a fresh instance in
    as the class's twin (``_twin``), each field stored once. Same value, same field
    order, and an unknown field is a ``TypeError`` too.

    With ``changed``: a copy that changes exactly those fields, each one a required
    keyword (the others are copied without asking whether they were given).
    """
    names = [f.name for f in fields(cls)]
    if changed is None:
        params = ", ".join(f"{n}=_KEEP" for n in names)
        values = {n: f"self.{n} if {n} is _KEEP else {n}" for n in names}
    else:
        unknown = set(changed) - set(names)
        if unknown:
            raise TypeError(f"{cls.__name__} has no field(s) {sorted(unknown)}")
        params = ", ".join(changed)
        values = {n: n if n in changed else f"self.{n}" for n in names}
    body = "".join(f"    new.{n} = {values[n]}\n" for n in names)
    src = (
        f"def replace(self, *, {params}):\n    new = _new(_TWIN)\n{body}"
        "    new.__class__ = _CLS\n    return new\n"
    )
    scope: dict[str, Any] = {"_KEEP": object(), "_new": object.__new__}
    scope.update(_TWIN=_twin(cls), _CLS=cls)
    exec(src, scope)
    fn: Callable[..., Row] = scope["replace"]
    return fn


def replacer(cls: type[Row], *changed: str) -> Callable[..., Row]:
    """A ``replace`` of one row class for the busiest writes: ``changed`` are the
    fields it sets, all of them required keywords; every other field is copied."""
    return _replacer(cls, changed)


#: ``replace_agent(agent, presence="online")``: a copy with the fields given changed.
replace_agent = _replacer(AgentState)
replace_department = _replacer(DepartmentState)
replace_ticket = _replacer(TicketState)
