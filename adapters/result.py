"""What every adapter returns: canonical events, or a rejection a person can act on.

Adapters never raise. A channel gateway needs one of two answers for any bytes it
was handed (store these events, or refuse with this reason), so parsing problems
travel as :class:`AdapterError` inside an adapter and leave it as :class:`Rejected`.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from schemas.codec import MAX_RECORD_BYTES, encode
from schemas.events import InboundReceived

log = logging.getLogger("deskroute.adapters")

#: Largest canonical event an adapter hands out (bytes, encoded). Below the codec's
#: record limit so that the producer's request overhead still fits under 1 MiB.
MAX_EVENT_BYTES = MAX_RECORD_BYTES - 64 * 1024


@dataclass(frozen=True, slots=True)
class Context:
    """What the caller knows and the payload must not decide: whose traffic this is."""

    tenant: str
    #: Request headers, names lower-cased (e.g. ``x-envelope-to`` for email).
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Receipt time (epoch seconds) used when a payload carries no trustworthy time.
    now: float = field(default_factory=time.time)
    #: The tenant's own mailboxes; selects which recipient of an email is "ours".
    mailboxes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why a payload (or one item of a batch) produced no event.

    ``reason`` is a short stable label for metrics and dead letters; ``detail`` is
    for a person. ``ignored`` marks valid input that simply carries nothing to
    route (a read receipt, a finished call): the channel must not retry it and
    nothing is dead-lettered.
    """

    reason: str
    detail: str
    ignored: bool = False


@dataclass(frozen=True, slots=True)
class Parsed:
    """At least one event; ``skipped`` lists the items of a batch that gave none."""

    events: tuple[InboundReceived, ...]
    skipped: tuple[Rejected, ...] = ()


Result = Parsed | Rejected
Adapter = Callable[[bytes, Context], Result]


class AdapterError(Exception):
    """Raised inside adapters; :func:`adapter` turns it into :class:`Rejected`."""

    def __init__(self, reason: str, detail: str, *, ignored: bool = False) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.ignored = ignored

    def rejected(self) -> Rejected:
        return Rejected(self.reason, self.detail, self.ignored)


def outcome(events: list[InboundReceived], skipped: list[Rejected], what: str) -> Result:
    """A batch's result: its events, or why there are none (ignored only if all were)."""
    if events:
        return Parsed(tuple(events), tuple(skipped))
    if not skipped:
        return Rejected("no_messages", f"the payload holds no {what}", ignored=True)
    invalid = [s for s in skipped if not s.ignored]
    if invalid:
        return Rejected(invalid[0].reason, invalid[0].detail)
    reasons = sorted({s.reason for s in skipped})
    return Rejected(
        "no_messages", f"{len(skipped)} item(s), none to route ({', '.join(reasons)})", True
    )


def adapter(fn: Callable[[bytes, Context], Result]) -> Adapter:
    """Make ``fn`` total: typed rejections for bad input, and events that will encode.

    The last-resort ``except`` keeps a gateway answering (and dead-lettering the
    input) if a parser meets input nobody foresaw; tests assert it never fires on
    the corpus or under fuzzing, so its reason, ``adapter_failure``, is a bug report.
    """

    @functools.wraps(fn)
    def total(body: bytes, ctx: Context) -> Result:
        try:
            if not ctx.tenant:
                raise AdapterError("missing_tenant", "the caller gave no tenant")
            result = fn(body, ctx)
            if isinstance(result, Parsed):
                for ev in result.events:
                    size = len(encode(ev))
                    if size > MAX_EVENT_BYTES:
                        raise AdapterError(
                            "oversize", f"event {ev.event_id!r} is {size} bytes > {MAX_EVENT_BYTES}"
                        )
            return result
        except AdapterError as exc:
            return exc.rejected()
        except Exception as exc:
            log.exception("adapter failed", extra={"adapter": fn.__name__})
            return Rejected("adapter_failure", f"{type(exc).__name__}: {exc}"[:500])

    return total
