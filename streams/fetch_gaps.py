"""A consumer never reads past an offset the broker has not stored yet.

The embedded broker takes a record's offset (raising the high watermark) before
it stores the record's batch, and producers on other connections are not held
behind it. While a large batch is being stored, a fetch from its offset is
answered with the batches after it: a Kafka client moves its position past the
missing offset, and the record is never read. A 10 MB record produced while a
worker wrote to the same partition was lost this way (README, broker notes).
Kafka stores before it exposes, so on an append-only topic the first batch it
returns starts at or before the fetch offset, and each batch starts where the
previous one ended.

:class:`GapRule` is the rule, free of any client: on an append-only topic a batch
starting past the next expected offset is *held*, together with everything after
it in that answer, and the consumer fetches again from the expected offset. A
gap that stays longer than the wait (a write the broker failed after taking its
offset) is skipped, loudly. Compacted topics (the config topic, table
changelogs) have gaps by design and are read as they come. :func:`install`
applies the rule to every aiokafka consumer of the process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from aiokafka.consumer import fetcher as aiokafka_fetcher

from streams import metrics, topics

log = logging.getLogger("deskroute.fetch")

#: Topics whose offsets have no gaps: every topic deskroute creates except the
#: compacted ones.
APPEND_ONLY = frozenset(t.name for t in topics.all_topics("") if not t.compacted)


class Read(Enum):
    """What a consumer does with a fetched batch."""

    #: Read it: it starts at or before the next expected offset.
    READ = "read"
    #: Read it: it fills a gap that was held before.
    FILLED = "filled"
    #: Hold it and everything after it: fetch again from the expected offset.
    HELD = "held"
    #: Read it, past a gap that outlasted the wait.
    SKIPPED = "skipped"


@dataclass
class GapRule:
    """Gaps held now, per (topic, partition, missing offset): when first seen."""

    wait_s: float
    held: dict[tuple[str, int, int], float] = field(default_factory=dict)

    def batch(
        self, topic: str, partition: int, expected: int, base: int, now: float
    ) -> tuple[Read, float]:
        """A batch starting at ``base`` arrived while ``expected`` is the next offset
        to read: what to do, and how long its gap was held (0 when there was none)."""
        key = (topic, partition, expected)
        if base <= expected:
            since = self.held.pop(key, None)
            return (Read.READ, 0.0) if since is None else (Read.FILLED, now - since)
        since = self.held.get(key)
        if since is None:
            # Holds this old belong to partitions that moved elsewhere meanwhile.
            self.forget_before(now - 10 * max(self.wait_s, 1.0))
            since = self.held[key] = now
        if now - since < self.wait_s:
            return Read.HELD, now - since
        self.held.pop(key, None)
        return Read.SKIPPED, now - since

    def forget_before(self, cutoff: float) -> None:
        """Drop gaps first seen before ``cutoff``: their partition moved elsewhere."""
        # A copy in one step: another thread's consumer may hold a gap meanwhile.
        for key, since in list(self.held.items()):
            if since < cutoff:
                self.held.pop(key, None)


class Contiguous:
    """Fetched batches of one partition up to the first gap the rule holds, with the
    interface aiokafka's ``PartitionRecords`` reads (``has_next``, ``next_batch``)."""

    def __init__(
        self,
        records: Any,
        topic: str,
        partition: int,
        offset: int,
        rule: GapRule,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._records = records
        self._clock = clock
        self._topic = topic
        self._partition = partition
        self._expected = offset
        self._rule = rule
        self._peeked: Any = None
        self._stopped = False

    def has_next(self) -> bool:
        if self._peeked is not None:
            return True
        if self._stopped or not self._records.has_next():
            return False
        batch = self._records.next_batch()
        if batch is None:
            return False
        outcome, waited = self._rule.batch(
            self._topic, self._partition, self._expected, batch.base_offset, self._clock()
        )
        if outcome is not Read.READ:
            _report(outcome, waited, self._topic, self._partition, self._expected, batch)
        if outcome is Read.HELD:
            self._stopped = True
            return False
        self._peeked = batch
        return True

    def next_batch(self) -> Any:
        if not self.has_next():
            return None
        batch, self._peeked = self._peeked, None
        self._expected = max(self._expected, batch.next_offset)
        return batch

    def size_in_bytes(self) -> int:
        return int(self._records.size_in_bytes())


def _report(outcome: Read, waited: float, topic: str, partition: int, at: int, batch: Any) -> None:
    where = {"topic": topic, "partition": partition, "offset": at, "next_stored": batch.base_offset}
    if outcome is Read.HELD:
        if waited == 0.0:
            metrics.FETCH_GAPS_HELD.inc()
            log.warning(
                "fetch held: the broker answered past an offset it has not stored yet",
                extra=where,
            )
        return
    metrics.FETCH_GAPS.labels(outcome.value).inc()
    metrics.FETCH_GAP_WAIT.observe(waited)
    if outcome is Read.FILLED:
        log.info("fetch gap filled", extra={**where, "waited_ms": round(waited * 1000, 1)})
    else:
        log.error(
            "fetch gap skipped: offsets the broker never stored within the wait",
            extra={**where, "waited_ms": round(waited * 1000, 1)},
        )


_RULE: GapRule | None = None


def install(
    wait_s: float, append_only: Callable[[str], bool] = APPEND_ONLY.__contains__
) -> GapRule:
    """Make every aiokafka consumer of this process hold at gaps on the topics
    ``append_only`` accepts. Safe to call again: the last wait counts."""
    global _RULE
    if _RULE is not None:
        _RULE.wait_s = wait_s
        return _RULE
    rule = _RULE = GapRule(wait_s)
    base: Any = aiokafka_fetcher.PartitionRecords

    class PartitionRecords(base):  # type: ignore[misc]
        def __init__(
            self, tp: Any, records: Any, aborted: Any, fetch_offset: int, *args: Any
        ) -> None:
            if append_only(tp.topic):
                records = Contiguous(records, tp.topic, tp.partition, fetch_offset, rule)
            super().__init__(tp, records, aborted, fetch_offset, *args)

    aiokafka_fetcher.PartitionRecords = PartitionRecords
    return rule
