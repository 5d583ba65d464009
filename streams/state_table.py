"""All routing state of a partition in one Faust table, applied atomically per event.

Why one table: Faust writes each table row to its changelog as a separate record,
and different changelog topics are not ordered with respect to each other. A
worker killed mid-event could leave, say, the ticket row written and the agent
row not; after recovery the ticket looks handled and the agent's load is wrong.

So every row of every kind lives in one table, and thus one changelog partition,
where records keep their order. Each event's rows are followed by a *marker* row
(one per partition) that records the source offsets applied so far and the
output records the event produced. Recovery applies rows only up to the latest
marker; rows after it belong to an event that did not finish and are dropped
(and an abort marker is written so that a later recovery drops them too). A
partition this worker keeps through a rebalance is not recovered again: its rows
in memory are the newest (an event in flight when the rebalance began finishes
normally), and re-reading its changelog would only replay older rows over them
and, stopping at an end offset that the embedded broker reports short, regress
them. Rows of partitions taken away are dropped from memory. The
source offsets in the marker let the stage skip events already applied, and the
outputs in the markers after the last committed consumer offset are sent again,
so an output lost in the crash is never lost for good (consumers may see a
repeat; every output carries the ticket id to deduplicate on).

The stage applies an event's rows to the store at once (:meth:`AtomicTable.stage`)
and sends them to the changelog per *batch* of events (:meth:`AtomicTable.close_batch`,
straight through Faust's producer): the last value of each key the batch changed,
then one marker with the offsets after its last event and the outputs of all its
events. A batch closes as soon as no record waits to be read (so one event at a
time under light load) or when it is large; its events are acknowledged only
then, so no committed offset runs ahead of the changelog. Recovery treats a batch
exactly as it treated one event. A deleted row is a tombstone, applied in order
on recovery like any other row.
Rows that only serve deduplication expire (:mod:`streams.expiry`); the index of
what may expire is fed by every row written or recovered.

What the core derives from the rows (the waiting work, the agent pools) lives
beside the table (:mod:`streams.table_view`) and follows the transitions it
decides. Rows that change any other way (recovered from the changelog, dropped
with a partition taken away, written outside :meth:`AtomicTable.stage`) move
the table's :attr:`AtomicTable.generation`, and the derived state is built again
from the rows.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import faust
import orjson
from aiokafka import AIOKafkaProducer
from faust.serializers import codecs
from faust.types import TP, EventT

from agents_state.model import AgentState, DepartmentState, TicketState
from schemas.codec import builder_for
from streams import metrics
from streams.expiry import Expiries, expires_from

log = logging.getLogger("deskroute.state")

SEP = "\x1f"
AGENT, DEPARTMENT, TICKET, SEEN, MARKER = "A", "D", "T", "S", "M"
#: Markers kept in memory during recovery per partition, to resend their outputs.
OUTBOX_LIMIT = 200_000


def marker_key(partition: int) -> str:
    return f"{MARKER}{SEP}{partition}"


@dataclass(frozen=True, slots=True)
class Marker:
    """Progress of one partition: the last applied offset per source topic, the
    event this marker closed, and what that event sent (topic, base64 key, value)."""

    offsets: dict[str, int] = field(default_factory=dict)
    #: The stage's clock: never behind a record it applied, so a record with an
    #: older timestamp (a late producer) cannot make time run backwards.
    clock: float = 0.0
    topic: str = ""
    offset: int = -1
    outputs: tuple[tuple[str, str, str], ...] = ()
    abort: bool = False

    def applied(self, topic: str, offset: int) -> bool:
        return offset <= self.offsets.get(topic, -1)

    def now(self, timestamp: float) -> float:
        return max(self.clock, timestamp)

    def after(
        self, topic: str, offset: int, now: float, outputs: tuple[tuple[str, str, str], ...]
    ) -> Marker:
        return Marker({**self.offsets, topic: offset}, now, topic, offset, outputs)


def output(topic: str, key: bytes | None, value: bytes) -> tuple[str, str, str]:
    return (topic, base64.b64encode(key or b"").decode("ascii"), value.decode("utf-8"))


class StateCodec(codecs.Codec):
    """Tags each value with its kind, so one changelog can hold every row type."""

    _decoders: ClassVar[dict[bytes, Callable[[Any, str], Any]]] = {
        b"A": builder_for(AgentState),
        b"D": builder_for(DepartmentState),
        b"T": builder_for(TicketState),
    }

    def _dumps(self, obj: Any) -> bytes:
        if isinstance(obj, AgentState):
            tag = b"A"
        elif isinstance(obj, DepartmentState):
            tag = b"D"
        elif isinstance(obj, TicketState):
            tag = b"T"
        elif isinstance(obj, Marker):
            tag = b"M"
        else:
            return b"S" + orjson.dumps(obj)
        return tag + orjson.dumps(obj)

    def _loads(self, s: bytes) -> Any:
        tag, body = s[:1], orjson.loads(s[1:])
        if tag == b"M":
            return Marker(
                dict(body["offsets"]),
                float(body["clock"]),
                str(body["topic"]),
                int(body["offset"]),
                tuple((str(t), str(k), str(v)) for t, k, v in body["outputs"]),
                bool(body["abort"]),
            )
        if tag == b"S":
            return body
        return self._decoders[tag](body, tag.decode())


class KeyCodec(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        return obj.encode("utf-8") if isinstance(obj, str) else bytes(obj)

    def _loads(self, s: bytes) -> str:
        return s.decode("utf-8")


codecs.register("dr_state_key", KeyCodec())
codecs.register("dr_state", StateCodec())


@dataclass(frozen=True, slots=True)
class _RowMessage:
    partition: int
    offset: int
    value: bytes | None


@dataclass(frozen=True, slots=True)
class _Row:
    """A changelog record read outside Faust, shaped like the parts of a Faust
    event that the table store reads."""

    key: Any
    value: Any
    message: _RowMessage


class View:
    """One kind of row, read by the key the pure core uses (``tenant SEP id``)."""

    __slots__ = ("_get", "_prefix", "_table")

    def __init__(self, table: Any, kind: str) -> None:
        self._table = table
        self._get: Callable[[str], Any] | None = None
        self._prefix = kind + SEP

    def get(self, key: str, default: None = None) -> Any:
        get = self._get
        if get is None:
            get = self._get = getter(self._table)
        return get(self._prefix + key)


def getter(table: Any) -> Callable[[str], Any]:
    """The fastest ``get`` of a table's store: the dict of the in-memory store, else the
    store's own (a miss is ``None`` either way, without Faust's KeyError round trip)."""
    store = table.data
    raw = getattr(store, "data", None)
    return raw.get if isinstance(raw, dict) else store.get


class AtomicTable(faust.Table[str, Any]):
    """A Faust table that recovers only whole events (see the module docstring)."""

    def __post_init__(self) -> None:
        self._pending: dict[int, list[EventT[Any]]] = {}
        self._outbox: dict[int, deque[Marker]] = {}
        self.resend: Callable[[list[tuple[str, str, str]]], Awaitable[None]] | None = None
        self._read_to: dict[int, int] = {}
        #: Partitions whose rows in memory are authoritative: recovered, or kept
        #: through a rebalance. Changelog records for them are never applied again.
        self._held: set[int] = set()
        #: The partition a row key's tenant lives on (set by the app).
        self.partition_of: Callable[[str], int] | None = None
        #: Reads a changelog partition from an offset to its true end: (offset, key, value).
        self.read_tail: (
            Callable[[int, int], Awaitable[list[tuple[int, bytes, bytes | None]]]] | None
        ) = None
        self.committed_offsets: (
            Callable[[set[int]], Awaitable[dict[tuple[str, int], int]]] | None
        ) = None
        #: The started aiokafka producer the rows are sent with (set by the app).
        self.producer: Callable[[], AIOKafkaProducer] | None = None
        self.expiries = Expiries()
        self._dumps = StateCodec()._dumps
        #: Rows applied to the store whose changelog records are not sent yet: the
        #: last value per key, per partition (see :meth:`stage`).
        self._dirty: dict[int, dict[str, Any]] = {}
        #: The marker that closes each partition's open batch, and its outputs.
        self._closing: dict[int, Marker] = {}
        self._closing_outputs: dict[int, list[tuple[str, str, str]]] = {}
        #: Events of the open batch, acknowledged once its records are sent.
        self._open_events: list[Any] = []
        self._open_bytes = 0
        self._closing_lock = asyncio.Lock()
        #: Moves whenever rows change other than by :meth:`stage` (which writes what
        #: the core decided, and expiry's deletions of finished work): recovery,
        #: dropped partitions, :meth:`write`, a rebalance. What is derived from the rows
        #: and followed the core's decisions is stale once it moved (see
        #: :mod:`streams.table_view`).
        self.generation = 0

    def get_fast(self, key: str) -> Any:
        """The row at ``key`` or None (see :func:`getter`)."""
        return getter(self)(key)

    def rows(self) -> int | None:
        """How many rows the store holds (None when counting would scan a database)."""
        raw = getattr(self.data, "data", None)
        return len(raw) if isinstance(raw, dict) else None

    async def write(
        self, partition: int, rows: Sequence[tuple[str, Any]]
    ) -> asyncio.Future[Any] | None:
        """Apply ``rows`` (value None: delete) to the store and send them to the
        changelog partition in this order; returns the last record's future."""
        assert self.producer is not None, "AtomicTable.producer is not set"
        send = self.producer().send
        topic = self.changelog_topic.get_topic_name()
        store = self.data
        raw = getattr(store, "data", None)
        target: Any = raw if isinstance(raw, dict) else store
        note = self.expiries.row
        dumps = self._dumps
        fut: asyncio.Future[Any] | None = None
        self.generation += 1
        for key, value in rows:
            if value is None:
                target.pop(key, None)
                fut = await send(topic, None, key=key.encode(), partition=partition)
            else:
                target[key] = value
                fut = await send(topic, dumps(value), key=key.encode(), partition=partition)
            note(key, value)
        if fut is not None and not isinstance(raw, dict):
            fut.add_done_callback(self._persisted)
        return fut

    def stage(
        self,
        partition: int,
        rows: Sequence[tuple[str, Any]],
        marker: Marker,
        outputs: Sequence[tuple[str, bytes | None, bytes]],
        event: Any,
    ) -> None:
        """Apply one event's ``rows`` (value None: delete) and its ``marker`` to the
        store now; their changelog records are sent when the batch closes.

        A batch is a run of events closed by :meth:`close_batch`: for each partition,
        the last value of every key the batch changed, then ONE marker holding the
        source offsets after the batch's last event and the outputs of all its
        events. Recovery applies a batch whole or not at all, like one event before;
        a key changed by many events of a batch is written once. ``event`` is
        acknowledged (its offset may be committed) only after the batch's records
        were handed to the producer, whose flush precedes every commit.
        """
        store = self.data
        raw = getattr(store, "data", None)
        target: Any = raw if isinstance(raw, dict) else store
        note = self.expiries.row
        dirty = self._dirty.get(partition)
        if dirty is None:
            dirty = self._dirty[partition] = {}
        for key, value in rows:
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value
            dirty[key] = value
            note(key, value)
        target[marker_key(partition)] = marker
        self._closing[partition] = marker
        if outputs:
            box = self._closing_outputs.setdefault(partition, [])
            for o in outputs:
                box.append(output(*o))
                self._open_bytes += len(o[2])
        self._open_events.append(event)

    def hold(self, event: Any) -> None:
        """Acknowledge ``event``, which changed nothing, with the open batch."""
        self._open_events.append(event)

    def batch_size(self) -> tuple[int, int]:
        """(events, output bytes) of the open batch."""
        return len(self._open_events), self._open_bytes

    async def close_batch(self, ack: Callable[[Any], Awaitable[Any]]) -> None:
        """Send the open batch's rows and markers to the changelog, then ``ack`` its events.

        Serialized: the records of two batches never interleave in a partition."""
        async with self._closing_lock:
            if not self._open_events and not self._closing:
                return
            dirty, self._dirty = self._dirty, {}
            closing, self._closing = self._closing, {}
            outputs, self._closing_outputs = self._closing_outputs, {}
            events, self._open_events = self._open_events, []
            self._open_bytes = 0
            assert self.producer is not None, "AtomicTable.producer is not set"
            send = self.producer().send
            topic = self.changelog_topic.get_topic_name()
            dumps = self._dumps
            fut: asyncio.Future[Any] | None = None
            for partition, marker in closing.items():
                for key, value in dirty.get(partition, {}).items():
                    fut = await send(
                        topic,
                        None if value is None else dumps(value),
                        key=key.encode(),
                        partition=partition,
                    )
                box = outputs.get(partition)
                if box:
                    marker = Marker(
                        marker.offsets, marker.clock, marker.topic, marker.offset, tuple(box)
                    )
                fut = await send(
                    topic, dumps(marker), key=marker_key(partition).encode(), partition=partition
                )
            if fut is not None and not isinstance(getattr(self.data, "data", None), dict):
                fut.add_done_callback(self._persisted)
            for event in events:
                await ack(event)

    def _persisted(self, fut: asyncio.Future[Any]) -> None:
        """A local (RocksDB) store remembers how far the changelog it holds goes."""
        if fut.cancelled() or fut.exception() is not None:
            return
        meta = fut.result()
        self.data.set_persisted_offset(TP(meta.topic, meta.partition), meta.offset)

    def expired(self, tenant: str, cutoff: float) -> list[str]:
        """Keys of ``tenant``'s expirable rows whose retention counts from before
        ``cutoff``, checked against the rows themselves, oldest first."""
        get = getter(self)
        out: list[str] = []
        for key in self.expiries.due(tenant, cutoff):
            value = get(key)
            at = None if value is None else expires_from(key, value)
            if at is not None and at < cutoff:
                out.append(key)
        return out

    async def on_rebalance(
        self,
        assigned: set[TP],
        revoked: set[TP],
        newly_assigned: set[TP],
        generation_id: int = 0,
    ) -> None:
        topic = self.changelog_topic.get_topic_name()
        now = {tp.partition for tp in assigned if tp.topic == topic}
        # Every partition not assigned now, held or half-recovered: Faust recovers a
        # partition given back later from its changelog afresh.
        gone = set(range(self.partitions or 0)) - now
        self.generation += 1
        self._held &= now
        self._drop_batch(gone)
        self._drop_rows(gone)
        log.info(
            "state partitions through a rebalance",
            extra={"kept": sorted(self._held), "dropped": sorted(gone), "assigned": sorted(now)},
        )
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)

    def _drop_batch(self, partitions: set[int]) -> None:
        """An open batch's records of partitions now owned elsewhere are not sent, and
        its events of them stay unacknowledged: the new owner reads them again."""
        for partition in partitions:
            self._dirty.pop(partition, None)
            self._closing.pop(partition, None)
            self._closing_outputs.pop(partition, None)
        self._open_events = [e for e in self._open_events if e.message.partition not in partitions]

    def _drop_rows(self, partitions: set[int]) -> None:
        """Forget the rows of partitions another worker now owns: the changelog has
        them, and a later assignment recovers them from there afresh."""
        raw = getattr(self.data, "data", None)
        if not partitions or not isinstance(raw, dict) or self.partition_of is None:
            return
        partition_of = self.partition_of
        tenants: dict[str, bool] = {}
        doomed: list[str] = []
        for key in raw:
            kind, _, rest = key.partition(SEP)
            if kind == MARKER:
                if int(rest) in partitions:
                    doomed.append(key)
                continue
            tenant = rest.split(SEP, 1)[0]
            gone = tenants.get(tenant)
            if gone is None:
                gone = tenants[tenant] = partition_of(tenant) in partitions
            if gone:
                doomed.append(key)
        for key in doomed:
            del raw[key]
        self.generation += 1
        for tenant, gone in tenants.items():
            if gone:
                self.expiries.drop(tenant)
        for partition in partitions:
            self._pending.pop(partition, None)
            self._outbox.pop(partition, None)
            self._read_to.pop(partition, None)
        metrics.STATE_ROWS_DROPPED.inc(len(doomed))

    def apply_changelog_batch(self, batch: Iterable[EventT[Any]]) -> None:
        ready: list[EventT[Any]] = []
        held = self._held
        for event in batch:
            partition = event.message.partition
            if partition in held:
                # Kept through a rebalance, or read late (a recovery buffer flushed
                # after recovery ended): older than what memory holds.
                continue
            self._read_to[partition] = max(self._read_to.get(partition, -1), event.message.offset)
            pending = self._pending.setdefault(partition, [])
            value = event.value
            if isinstance(value, Marker):
                if value.abort:
                    pending.clear()
                else:
                    ready.extend(pending)
                    pending.clear()
                    if value.outputs:
                        box = self._outbox.setdefault(partition, deque(maxlen=OUTBOX_LIMIT))
                        box.append(value)
                ready.append(event)
            else:
                pending.append(event)
        if ready:
            self.generation += 1
            super().apply_changelog_batch(ready)
            note = self.expiries.row
            for event in ready:
                key = str(event.key)
                if event.message.value is None:
                    note(key, None)
                elif not isinstance(event.value, Marker):
                    note(key, event.value)

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        self.generation += 1
        try:
            await self._close_recovery({tp.partition for tp in active_tps})
        except Exception:  # recovery must not die silently inside asyncio.wait
            log.exception("state recovery close-out failed")
            raise
        finally:
            await super().on_recovery_completed(active_tps, standby_tps)
            self.generation += 1

    async def _read_tails(self, partitions: set[int]) -> None:
        """Apply changelog records past the end offset the broker reported.

        The embedded broker reports a partition's end as the last batch's base
        offset + 1, so Faust's recovery stops short of the other records of a
        multi-record last batch; reading on until the broker returns nothing
        finds them. On a Kafka cluster there is nothing more to read.
        """
        if self.read_tail is None:
            return
        key_codec, value_codec = codecs.get_codec("dr_state_key"), codecs.get_codec("dr_state")
        for partition in sorted(partitions - self._held):
            start = self._read_to.get(partition, -1) + 1
            rows = await self.read_tail(partition, start)
            if rows:
                metrics.CHANGELOG_TAIL_RECORDS.inc(len(rows))
                log.info(
                    "read changelog records past the reported end",
                    extra={"partition": partition, "from": start, "records": len(rows)},
                )
                events: list[Any] = [
                    _Row(
                        key_codec.loads(k),
                        None if v is None else value_codec.loads(v),
                        _RowMessage(partition, offset, v),
                    )
                    for offset, k, v in rows
                ]
                self.apply_changelog_batch(events)

    async def _close_recovery(self, partitions: set[int]) -> None:
        await self._read_tails(partitions)
        self._held = set(partitions)
        for partition, pending in self._pending.items():
            if pending and partition in partitions:
                last = self.data.get(marker_key(partition)) or Marker()
                # Rows of an event that never finished: a later recovery must skip them too.
                self.send_changelog(
                    partition, marker_key(partition), Marker(last.offsets, last.clock, abort=True)
                )
                log.warning(
                    "dropped rows of an unfinished event",
                    extra={"partition": partition, "rows": len(pending)},
                )
        self._pending.clear()
        outbox, self._outbox = self._outbox, {}
        if self.committed_offsets is None or not partitions:
            return
        committed = await self.committed_offsets(partitions)
        for (topic, partition), offset in committed.items():
            marker = self.data.get(marker_key(partition)) or Marker()
            if offset > marker.offsets.get(topic, -1) + 1:
                # Offsets were committed for events whose rows never reached the
                # changelog: their effects are lost. Should not happen (the producer
                # is flushed before every commit); if it does, say so loudly.
                metrics.STATE_BEHIND_COMMIT.inc()
                log.error(
                    "state is behind the committed offset",
                    extra={
                        "topic": topic,
                        "partition": partition,
                        "committed": offset,
                        "applied": marker.offsets.get(topic, -1),
                    },
                )
        again: list[tuple[str, str, str]] = []
        for partition, markers in outbox.items():
            if partition not in partitions:
                continue
            for marker in markers:
                # Events from the committed offset on are read again but skipped as
                # applied: what they sent may not have reached the broker.
                if marker.offset >= committed.get((marker.topic, partition), 0):
                    again.extend(marker.outputs)
        if again and self.resend is not None:
            log.warning(
                "resending outputs of events after the last commit", extra={"records": len(again)}
            )
            await self.resend(again)
