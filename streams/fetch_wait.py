"""A consumer's fetch wait rises when the broker starves a partition that has records.

The embedded broker lists every batch a partition ever held on each fetch that
has records to return, and when the fetch's max wait runs out before the list
does it answers with none (README, broker notes). With a wait of a few
milliseconds a partition past ~15,000 batches is then never read again, and the
broker spends a core trying: a ``make run`` left running for hours, or a long
soak, would stop routing. Kafka returns at least one batch whenever the fetch
offset lies below the high watermark, so an answer without error never looks
like this there; failed requests and error codes are not counted.

:class:`FetchWait` is the rule, free of any client: a partition that came back
empty although its high watermark lies past the fetch offset is *starved*; after
:data:`STARVED_LIMIT` such answers in a row the wait doubles, up to a ceiling.
It is never lowered again: the partition only grows. The wait bounds the
broker's listing, not data that is there: a fetch that finds records answers as
soon as the list is done, and one that finds none sleeps half its remaining wait
between looks, so only a record that arrives while the consumer waits is late,
by up to half the wait. :func:`guard` applies it to a started aiokafka consumer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams import metrics

log = logging.getLogger("deskroute.fetch")

#: Starved answers in a row, for one partition, before the wait rises. One is
#: enough on the embedded broker (nothing else empties such an answer); three
#: keep a one-off (the request's byte budget spent on other partitions) from
#: raising it.
STARVED_LIMIT = 3


@dataclass
class FetchWait:
    """How long the broker may hold a fetch, raised while partitions starve."""

    wait_ms: int
    ceiling_ms: int
    #: Starved answers in a row per partition.
    starved: dict[Any, int] = field(default_factory=dict)

    def answered(self, partitions: Iterable[tuple[Any, int, int | None, bool]]) -> int | None:
        """Take one fetch's answer, ``(partition, fetch offset, high watermark, got
        records)`` per partition it asked for; the new wait if it rose, else None."""
        rise = False
        for tp, offset, highwater, got in partitions:
            if got or highwater is None or offset >= highwater:
                self.starved.pop(tp, None)
                continue
            n = self.starved[tp] = self.starved.get(tp, 0) + 1
            if n >= STARVED_LIMIT:
                rise = True
        if not rise or self.wait_ms >= self.ceiling_ms:
            return None
        self.wait_ms = min(self.ceiling_ms, max(1, self.wait_ms) * 2)
        self.starved.clear()
        return self.wait_ms


def guard(
    consumer: AIOKafkaConsumer,
    ceiling_ms: int,
    client: str,
    on_rise: Callable[[int], None] | None = None,
) -> FetchWait:
    """Follow every fetch answer of a started ``consumer`` and raise its wait as
    :class:`FetchWait` says. ``client`` names it in the log and the metric."""
    fetcher: Any = consumer._fetcher
    rule = FetchWait(fetcher._fetch_max_wait_ms, max(ceiling_ms, fetcher._fetch_max_wait_ms))
    proc = fetcher._proc_fetch_request
    if on_rise is not None:
        on_rise(rule.wait_ms)

    async def proc_fetch_request(assignment: Any, node_id: int, request: Any) -> Any:
        asked: dict[TopicPartition, tuple[int, Any]] = {}
        for topic, partitions in request.topics:
            for p in partitions:
                tp = TopicPartition(topic, p[0])
                state = assignment.state_value(tp)
                if state is not None:
                    asked[tp] = (p[1], state.timestamp)
        result = await proc(assignment, node_id, request)
        if not assignment.active:
            return result
        answers = []
        records = fetcher._records
        for tp, (offset, stamp) in asked.items():
            state = assignment.state_value(tp)
            # The client stamps a partition only for an answer without error at the
            # position it asked from; a failed request, an error code or a response
            # dropped after a seek says nothing about the broker's listing.
            if state is None or state.timestamp == stamp:
                continue
            answers.append((tp, offset, state.highwater, tp in records))
        risen = rule.answered(answers)
        if risen is not None:
            fetcher._fetch_max_wait_ms = risen
            metrics.FETCH_WAIT_RAISED.labels(client).inc()
            if on_rise is not None:
                on_rise(risen)
            log.warning(
                "fetch wait raised: the broker answered a partition with records with none",
                extra={"client": client, "fetch_max_wait_ms": risen, "ceiling_ms": rule.ceiling_ms},
            )
        return result

    fetcher._proc_fetch_request = proc_fetch_request
    return rule
