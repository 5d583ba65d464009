"""Shared pieces of the benchmarks: sizes, sample events, the broker, progress output.

Every benchmark gets a fresh embedded broker (it keeps everything in memory, so
one benchmark's records would otherwise sit under the next one's), most pre-fill
their input, and each returns a flat ``dict`` of figures that :mod:`bench.run` merges into
the final JSON line.

What the embedded broker (Tansu 0.6, memory storage) does to these figures:

* A producer keeps one batch per partition in flight, so records produced one
  by one (acks awaited) take about one round trip each (~0.3-0.5 ms here).
* Every fetch that has records to return lists every batch the partition ever
  held (nothing is deleted: no retention, DeleteRecords unimplemented), about
  0.5-1 us per batch whatever the batch holds: a tail fetch took 1.5 ms at 1,000
  batches, 7-10 ms at 10,000, 11-22 ms at 20,000, for one-record and 50-record
  batches alike; a partition with few batches beside it stayed at 0.6 ms.
* This build stops listing when the fetch's ``max_wait`` runs out and then
  answers with no records. With deskroute's 10 ms (``fetch_max_wait_ms``) a
  partition past ~15,000-20,000 batches (fewer on a busy host) cannot be read at
  all: seeking to the last record of 22,000 batches returned nothing for 60 s
  while the broker used a whole core; with 250 ms, 45,000 batches read in 34 ms.
  This is why deskroute uses ordinary batches (and reads changelog tails past
  the end offset this broker misreports), why inputs are written in batches, and
  why a long run (:mod:`bench.memory`) feeds its input as it goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import sys
import time
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path

from aiokafka import AIOKafkaProducer

from schemas.codec import encode
from schemas.events import Channel, Customer, InboundReceived
from streams import topics
from streams.admin import producer, wait_for_broker
from streams.broker import EmbeddedBroker
from streams.demo import CHANNEL_MIX, SOURCES
from streams.settings import Settings

#: Repository root (the benchmarks read examples/ and write run state under .deskroute/).
ROOT = Path(__file__).resolve().parent.parent
#: Broker and worker logs of the last run (``.deskroute`` is ignored by git).
LOG_DIR = ROOT / ".deskroute" / "bench"
TENANT = "demo"
TENANT_KEY = TENANT.encode()

_STARTED = time.monotonic()


def events_from_env() -> int | None:
    """N for every benchmark from ``BENCH_EVENTS``; None: each benchmark's own default."""
    raw = os.environ.get("BENCH_EVENTS", "").replace("_", "").strip()
    if not raw:
        return None
    try:
        n = int(raw)
    except ValueError:
        raise SystemExit(f"BENCH_EVENTS={raw!r}: not a whole number") from None
    if n < 2:
        raise SystemExit(f"BENCH_EVENTS={raw!r}: need at least 2 events")
    return n


def say(message: str) -> None:
    """A progress line on stderr; stdout is kept for the final JSON line."""
    print(f"[bench {time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def broker_settings(broker: EmbeddedBroker, **overrides: object) -> Settings:
    """deskroute's settings on the embedded broker (the defaults, as ``deskroute run``)."""
    base = Settings(kafka_bootstrap=broker.bootstrap)
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


@contextlib.contextmanager
def fresh_broker(name: str) -> Iterator[EmbeddedBroker]:
    """A new embedded broker for one benchmark, stopped however the benchmark ends."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_file = LOG_DIR / f"{name}-broker.log"
    log_file.unlink(missing_ok=True)
    broker = EmbeddedBroker(log_file=log_file)
    broker.start()
    try:
        say(f"{name}: fresh embedded broker on {broker.bootstrap} (log {log_file})")
        yield broker
    finally:
        broker.stop()


# -- sample traffic ------------------------------------------------------------

_SENTENCES = (
    "Hello, I need help with my order.",
    "The parcel was supposed to arrive on Tuesday but the tracking page has not moved since.",
    "Could you tell me whether the invoice for last month includes the discount we agreed?",
    "I tried to reset my password twice and never received the email.",
    "The app crashes when I open the settings page on my phone.",
    "Thanks for the quick answer last time.",
    "Please call me back when you can, I am available all afternoon.",
    "My account number is in the signature below.",
    "We were charged twice for the same subscription renewal.",
    "Is there a way to change the delivery address after the order has shipped?",
)
_SUBJECTS = (
    "Question about my order",
    "Invoice 2024-1187",
    "Cannot log in",
    "Refund request",
    "Delivery delayed",
    "App keeps crashing",
)
#: Text length range per channel (characters): mails are long, chats and posts short.
_TEXT_CHARS: dict[Channel, tuple[int, int]] = {
    "email": (200, 1500),
    "social": (20, 280),
    "chat": (20, 200),
    "call": (0, 120),
}
_FIRST = ("Ana", "Ben", "Chloe", "David", "Elif", "Femi", "Greta", "Hugo", "Ines", "Jonas")
_LAST = ("Silva", "Meyer", "Dubois", "Rossi", "Novak", "Kowalski", "Okafor", "Tanaka")


def _text(rng: random.Random, lo: int, hi: int) -> str:
    target = rng.randint(lo, hi)
    parts: list[str] = []
    size = 0
    while size < target:
        s = rng.choice(_SENTENCES)
        parts.append(s)
        size += len(s) + 1
    return " ".join(parts)[:target]


def inbound_events(n: int, seed: int = 7, run_id: str = "bench") -> list[tuple[Channel, bytes]]:
    """``n`` canonical inbound events as deskroute receives them: (channel, encoded record).

    Channels, sources and priorities follow the demo's mix; texts vary in length
    by channel. The same seed gives the same events, so every benchmark of a run
    processes records of the same sizes.
    """
    rng = random.Random(seed)
    channels: Sequence[Channel] = typing.cast(tuple[Channel, ...], tuple(CHANNEL_MIX))
    weights = tuple(CHANNEL_MIX.values())
    now = time.time()
    out: list[tuple[Channel, bytes]] = []
    for i in range(n):
        channel = rng.choices(channels, weights)[0]
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        ev = InboundReceived(
            event_id=f"{run_id}-{i}",
            tenant=TENANT,
            channel=channel,
            source=rng.choice(SOURCES[channel]),
            conversation_id=f"conv-{rng.randrange(1_000_000)}",
            customer=Customer(
                f"cust-{rng.randrange(100_000)}",
                f"{first} {last}",
                f"{first.lower()}.{last.lower()}@example.com" if channel == "email" else "",
            ),
            received_at=now + i * 1e-4,
            subject=rng.choice(_SUBJECTS) if channel == "email" else "",
            text=_text(rng, *_TEXT_CHARS[channel]),
            priority=rng.choices([1, 2, 3, 4], [0.05, 0.15, 0.7, 0.1])[0],
            attributes={"locale": rng.choice(["en-GB", "de-DE", "fr-FR"]), "gateway": "bench"},
        )
        out.append((channel, encode(ev)))
    return out


def inbound_topic(channel: Channel) -> str:
    return topics.INBOUND[channel]


#: Batch size of the producer that pre-fills inputs (aiokafka's default).
PREFILL_BATCH_BYTES = 16384


async def prefill(
    settings: Settings, records: Sequence[tuple[str, bytes, bytes]], label: str
) -> float:
    """Produce ``(topic, key, value)`` records in default-size batches and wait for the acks.

    Inputs are written the way an upstream gateway's producer would, in batches,
    not one record per batch: the embedded broker serves a long log of one-record
    batches very slowly from its start (beyond ~12,000 batches in a partition a
    fetch returns a handful of records), which would measure the broker's fetch
    path instead of deskroute. Consumers read these batches correctly; only end
    offsets of multi-record batches are unreliable there, and no input reader
    uses them. The ceiling's source and deskroute's inbound topics are filled
    alike. Returns the seconds it took (informative only: not part of a figure).
    """
    await wait_for_broker(settings)
    p: AIOKafkaProducer = producer(settings, max_batch_size=PREFILL_BATCH_BYTES)
    await p.start()
    started = time.perf_counter()
    try:
        futures = [await p.send(topic, value, key=key) for topic, key, value in records]
        await asyncio.gather(*futures)
    finally:
        await p.stop()
    took = time.perf_counter() - started
    say(f"{label}: pre-filled {len(records)} records in {took:.1f}s")
    return took


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process has used so far (0.0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rate(events: int, seconds: float) -> float:
    return round(events / seconds, 1) if seconds > 0 else 0.0
