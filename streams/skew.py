"""Records stamped in the future, refused before they can move a stage's clock.

The assignment stage's clock is the newest record time it applied and never runs
backwards (so a replay decides as the first run did). One record stamped far
ahead — a producer with a wrong clock, a bad event-time field — would therefore
move the clock of its whole partition ahead: waits, offer timeouts and
escalations would stand still until real time caught up. Such records are
dead-lettered instead, with reason ``future_timestamp``.
"""

from __future__ import annotations

#: The event-time fields of deskroute's input records (whichever a record has).
EVENT_TIME_FIELDS = ("received_at", "occurred_at", "routed_at", "at")


def future_timestamp(record_ts: float, event: object | None, now: float, skew: float) -> str | None:
    """Why a record is too far ahead of ``now`` (its Kafka timestamp ``record_ts``
    or an event-time field of ``event``), or None when it is not."""
    limit = now + skew
    if record_ts > limit:
        return (
            f"record timestamp {record_ts:.3f} is {record_ts - now:.0f}s ahead of the worker's"
            f" clock (DESKROUTE_MAX_CLOCK_SKEW_S={skew:g})"
        )
    if event is not None:
        for name in EVENT_TIME_FIELDS:
            value = getattr(event, name, None)
            if isinstance(value, (int, float)) and value > limit:
                return (
                    f"{type(event).__name__}.{name} {value:.3f} is {value - now:.0f}s ahead of the"
                    f" worker's clock (DESKROUTE_MAX_CLOCK_SKEW_S={skew:g})"
                )
    return None
