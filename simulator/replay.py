"""Replay a recorded JSONL log of canonical events through the core, on its own clock.

Each line is one record as the codec writes it (``schemas.codec.encode``). The
assignment stage's inputs (``TicketRouted``, ``AgentPresenceChanged``,
``AgentCapacityChanged``, ``WorkFinished``) go to the core as they are;
``InboundReceived`` is routed by the tenant's rules first, as the rule stage
does. Outcome records (``TicketAssigned``, ...) are what a replay recomputes, so
they are skipped. As in the worker, records are applied in file order and the
clock is each record's own time, never running backwards; a line that cannot
be applied is counted and reported with its number, never stops the replay.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from schemas.codec import DecodeError, from_mapping, loads_object
from schemas.events import (
    AgentCapacityChanged,
    AgentPresenceChanged,
    ClockTicked,
    TicketRouted,
    WorkFinished,
)
from schemas.tenant_config import TenantConfig
from simulator.engine import AGENT_ANSWERS, Engine, Outcome, Source
from streams.rule_stage import Rejected, route_record

#: Records the assignment stage consumes, and the field holding each one's time.
_INPUTS: dict[str, tuple[type[Any], str]] = {
    "TicketRouted": (TicketRouted, "routed_at"),
    "AgentPresenceChanged": (AgentPresenceChanged, "occurred_at"),
    "AgentCapacityChanged": (AgentCapacityChanged, "occurred_at"),
    "WorkFinished": (WorkFinished, "occurred_at"),
    "ClockTicked": (ClockTicked, "at"),
    **{c.__name__: (c, "occurred_at") for c in AGENT_ANSWERS},
}
#: Records a replay produces itself.
_OUTPUTS = {
    "TicketAssigned",
    "TicketQueued",
    "TicketUnroutable",
    "TicketOffered",
    "OfferMissed",
    "OfferWithdrawn",
    "TicketEscalated",
    "EventDeadLettered",
}


@dataclass(frozen=True, slots=True)
class Inbound:
    """An ``InboundReceived`` line, routed by the rules when it is due."""

    raw: bytes
    line: int


@dataclass
class LogReader:
    path: Path
    tenant: str
    rejected: list[str] = field(default_factory=list)
    skipped: int = 0

    def source(self) -> Source:
        return self._read()

    def _reject(self, line: int, why: str) -> None:
        self.rejected.append(f"{self.path}:{line}: {why}")

    def _read(self) -> Iterator[tuple[float, int, Any]]:
        clock = 0.0
        with self.path.open("rb") as f:
            for n, raw in enumerate(f, start=1):
                raw = raw.strip()
                if not raw:
                    continue
                try:
                    obj = loads_object(raw)
                except DecodeError as exc:
                    self._reject(n, f"{exc.reason}: {exc.detail}")
                    continue
                kind = obj.get("type")
                if kind in _OUTPUTS:
                    self.skipped += 1
                    continue
                if obj.get("tenant") != self.tenant:
                    self._reject(
                        n, f"unknown_tenant: {obj.get('tenant')!r} (config: {self.tenant})"
                    )
                    continue
                item: Any
                if kind == "InboundReceived":
                    at, item = obj.get("received_at"), Inbound(raw, n)
                elif isinstance(kind, str) and kind in _INPUTS:
                    cls, time_field = _INPUTS[kind]
                    try:
                        item = from_mapping(cls, obj)
                    except DecodeError as exc:
                        self._reject(n, f"{exc.reason}: {exc.detail}")
                        continue
                    at = getattr(item, time_field)
                else:
                    self._reject(n, f"unknown_type: {kind!r}")
                    continue
                if isinstance(at, int | float) and not isinstance(at, bool):
                    clock = max(clock, float(at))
                yield clock, 0, item


def replay(
    config: TenantConfig,
    path: str | Path,
    *,
    trace: bool = False,
    record: IO[bytes] | None = None,
) -> Outcome:
    """Run the log at ``path`` through the core under ``config``."""
    reader = LogReader(Path(path), config.tenant)
    # The worker's own ticks, where the log has them, decide timeouts as they did live.
    engine = Engine(
        config, generated=False, trace=trace, record=record, ticks=not _has_ticks(reader.path)
    )

    def on_inbound(item: Inbound, now: float) -> None:
        # Log time is all the replay knows: the worker's check of record times
        # against its wall clock has nothing to compare with here.
        routed = route_record(
            item.raw, "", lambda t: config if t == config.tenant else None, now, now, math.inf
        )
        if isinstance(routed, Rejected):
            reader.rejected.append(f"{reader.path}:{item.line}: {routed.reason}: {routed.detail}")
            return
        if record is not None:
            record.write(item.raw + b"\n")  # what came in, as it came
        engine.route(routed, now, recorded=False)

    engine.handlers[Inbound] = on_inbound
    engine.add_source(reader.source())
    out = engine.run()
    out.rejected[:0] = reader.rejected
    return out


def _has_ticks(path: Path) -> bool:
    with path.open("rb") as f:
        return any(b'"ClockTicked"' in chunk for chunk in iter(lambda: f.read(1 << 20), b""))
