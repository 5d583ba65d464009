"""Worker memory under a long run: RSS after 10 % of the events vs after all of them.

State must stay bounded: tickets that reached a final status and the ids kept to
deduplicate agent events leave the table once ``DESKROUTE_DEDUPE_RETENTION_S``
has passed (here :data:`RETENTION_S`, with the worker's clock ticking every
second), so a worker that runs for days holds about retention x rate rows, not
everything it ever saw.

The mix is cheap per event but touches every kind of state the long run grows:

* half are inbound automatic mails (``attributes.automatic = auto-reply``) that
  the demo tenant's first rule drops: each leaves an unroutable ticket row, which
  expires;
* half are agent presence changes (each agent alternates online / away, every
  event a new id): each rewrites an agent row and leaves a ``seen`` row, which
  expires.

Both go through the whole pipeline (rule stage, relay, assignment stage, marker
rows, outcome records), on a fresh broker. The worker's progress is read from its
``deskroute_stage_processing_seconds_count{stage="assignment"}`` and its RSS from
``/proc``. ``rss_growth`` = RSS at the end / RSS after :data:`FIRST_SHARE` of the
events - 1, that first point taken no sooner than :data:`WARMUP_S` after the
worker started, once the table holds retention x rate rows (a short run would
otherwise compare a filling table with a full one; ``rss_events_first`` says
where it was taken: 100 k of 1 M; about 25 k of 60 k, where RSS is still
warming up). ``BENCH_RSS_EVENTS`` sets the number of events (default
:data:`DEFAULT_EVENTS`, the 100 k -> 1 M the figure is defined by, about nine
minutes of ``make bench``; ``BENCH_RSS_EVENTS=60000`` for a quick look;
``make bench-memory`` runs this benchmark alone).

Two things keep a long run measuring the worker rather than the embedded broker
(Tansu, memory storage), whose fetch lists every batch a partition ever held
(about 0.5-1 us each) and, in the build shipped here, gives up listing when the
fetch's ``max_wait`` runs out, answering with no records at all:

* Inputs are fed while the worker runs, :data:`CHUNK` events at a time in
  batches of up to :data:`FEED_BATCH_BYTES`, keeping at most :data:`BACKLOG`
  events unprocessed. The input partitions then hold a few hundred batches even
  at 1 M events, and the worker's RSS at 100 k and at 1 M holds the same bounded
  backlog (pre-filling everything had it fetch 5 MiB responses from a log of tens
  of thousands of batches).
* The worker reads with ``DESKROUTE_FETCH_MAX_WAIT_MS`` = :data:`FETCH_MAX_WAIT_MS`
  instead of the default 10 ms. Its own routed topic (the assignment stage's
  input) gains a batch every ~20 events; past ~15,000 batches (~330 k events) one
  partition takes longer than 10 ms to list and every fetch came back empty: the
  1 M run stalled at 331,635 events. Only how long an idle fetch may wait
  changes; the worker's code, tables and batching are the product's.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections.abc import Iterator

from aiokafka import AIOKafkaProducer

from bench.common import (
    LOG_DIR,
    TENANT,
    TENANT_KEY,
    broker_settings,
    fresh_broker,
    inbound_topic,
    say,
)
from bench.e2e import TENANT_FILE, WorkerProcess
from schemas.codec import encode
from schemas.config_file import load_config_file
from schemas.events import AgentPresenceChanged, Customer, InboundReceived
from streams import topics
from streams.admin import create_topics, producer, publish_config, wait_for_broker
from streams.broker import EmbeddedBroker, free_port

DEFAULT_EVENTS = 1_000_000
FIRST_SHARE = 0.1
RETENTION_S = 10.0
#: Seconds of processing before the first RSS point: twice the retention, so
#: expiry has been deleting rows for as long as it took to add them.
WARMUP_S = 2 * RETENTION_S
STALL_S = 120.0
SAMPLE_S = 0.5
#: A progress line this often: a long run shows its pace and both processes' RSS.
PROGRESS_S = 60.0
#: Events written per step of the feed, and the most left unprocessed before the next step.
CHUNK = 10_000
BACKLOG = 20_000
#: Batch size of the feed's producer: few, large batches per input partition.
FEED_BATCH_BYTES = 1 << 20
#: How long the worker's idle fetches may wait (see the module's docstring).
FETCH_MAX_WAIT_MS = 250


def events_from_env() -> int:
    raw = os.environ.get("BENCH_RSS_EVENTS", "").replace("_", "").strip()
    return int(raw) if raw else DEFAULT_EVENTS


def workload(n: int, agents: list[str]) -> Iterator[tuple[str, bytes]]:
    """``n`` records (topic, value), made as they are fed: dropped automatic mails
    and presence changes, each stamped when it is made (the feed's pace), so ids
    and finished tickets expire :data:`RETENTION_S` after they were fed."""
    away: dict[str, bool] = dict.fromkeys(agents, False)
    for i in range(n):
        if i % 2:
            agent = agents[(i // 2) % len(agents)]
            away[agent] = not away[agent]
            ev: object = AgentPresenceChanged(
                f"mem-p{i}", TENANT, agent, "away" if away[agent] else "online", time.time()
            )
            yield topics.AGENT_EVENTS, encode(ev)
        else:
            ev = InboundReceived(
                f"mem-{i}",
                TENANT,
                "email",
                "email:noreply@demo.example",
                f"conv-{i}",
                Customer(f"cust-{i % 1000}"),
                time.time(),
                subject="Automatic reply",
                text="I am out of the office.",
                attributes={"automatic": "auto-reply"},
            )
            yield inbound_topic("email"), encode(ev)


class Feed:
    """Writes the workload ahead of the worker, :data:`CHUNK` events at a time."""

    def __init__(self, p: AIOKafkaProducer, records: Iterator[tuple[str, bytes]], n: int) -> None:
        self.producer = p
        self.records = records
        self.n = n
        self.sent = 0

    async def top_up(self, done: float) -> None:
        """Write the next chunk(s) while fewer than :data:`BACKLOG` events wait."""
        while self.sent < self.n and self.sent - done < BACKLOG:
            count = min(CHUNK, self.n - self.sent)
            futures = []
            for _ in range(count):
                topic, value = next(self.records)
                futures.append(await self.producer.send(topic, value, key=TENANT_KEY))
            await asyncio.gather(*futures)
            self.sent += count


async def _measure(worker: WorkerProcess, n: int, feed: Feed, broker_pid: int) -> dict[str, float]:
    first_at = max(1, int(n * FIRST_SHARE))
    rss_first = rows_first = 0.0
    done = 0.0
    last, last_change = -1.0, time.monotonic()
    started = time.monotonic()
    rows = 0.0
    next_progress, done_before = started + PROGRESS_S, 0.0
    while done < n:
        await feed.top_up(done)
        code = worker.exited()
        if code is not None:
            raise RuntimeError(f"worker exited with code {code}; see {worker.log_path}")
        status, text = await asyncio.to_thread(worker.get, "/metrics")
        if status == 200 and isinstance(text, str):
            done = _metric(text, 'deskroute_stage_processing_seconds_count{stage="assignment"}')
            rows = _metric(text, "deskroute_state_rows")
        if done != last:
            last, last_change = done, time.monotonic()
        elif time.monotonic() - last_change > STALL_S:
            raise TimeoutError(f"memory: no progress for {STALL_S:.0f}s at {done:.0f}/{n}")
        if not rss_first and done >= first_at and time.monotonic() - started >= WARMUP_S:
            rss_first, rows_first, first_at = worker.rss_bytes(), rows, int(done)
            say(
                f"memory: {done:.0f} events: worker RSS {rss_first / 2**20:.1f} MiB, {rows:.0f} rows"
            )
        if time.monotonic() >= next_progress:
            say(
                f"memory: {done:.0f} events ({(done - done_before) / PROGRESS_S:.0f}/s): "
                f"worker RSS {worker.rss_bytes() / 2**20:.1f} MiB, {rows:.0f} rows, "
                f"broker RSS {_rss_of(broker_pid) / 2**20:.0f} MiB"
            )
            next_progress, done_before = next_progress + PROGRESS_S, done
        await asyncio.sleep(SAMPLE_S)
    took = time.monotonic() - started
    rss_last = worker.rss_bytes()
    broker_rss = _rss_of(broker_pid)
    growth = rss_last / rss_first - 1 if rss_first else 0.0
    say(
        f"memory: {done:.0f} events in {took:.0f}s: worker RSS {rss_last / 2**20:.1f} MiB, "
        f"{rows:.0f} rows; growth {100 * growth:.1f} % since {first_at} events "
        f"(broker RSS {broker_rss / 2**20:.0f} MiB)"
    )
    return {
        "rss_growth": round(growth, 4),
        "rss_first_mb": round(rss_first / 2**20, 1),
        "rss_last_mb": round(rss_last / 2**20, 1),
        "rss_events_first": first_at,
        "rss_events": n,
        "rss_rows_first": rows_first,
        "rss_rows_last": rows,
        "rss_eps": round(done / took, 1) if took > 0 else 0.0,
        "rss_wall_s": round(took, 1),
        "rss_broker_mb": round(broker_rss / 2**20, 1),
    }


def _rss_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _run(worker: WorkerProcess, n: int, broker_pid: int) -> dict[str, float]:
    settings = worker.settings
    config = load_config_file(TENANT_FILE, version=1)
    await wait_for_broker(settings)
    await create_topics(settings)
    await publish_config(settings, config)
    p: AIOKafkaProducer = producer(settings, max_batch_size=FEED_BATCH_BYTES, linger_ms=20)
    await p.start()
    try:
        feed = Feed(p, workload(n, sorted(config.agents)), n)
        await feed.top_up(0)
        worker.start()
        say(
            f"memory: worker started (pid {worker.pid}, log {worker.log_path}), "
            f"{n} events fed {CHUNK} at a time"
        )
        return await _measure(worker, n, feed, broker_pid)
    finally:
        await p.stop()


def run(n: int) -> dict[str, float]:
    del n  # BENCH_EVENTS sizes the throughput benchmarks; this one has its own
    total = events_from_env()
    with (
        fresh_broker("memory") as broker,
        tempfile.TemporaryDirectory(prefix="deskroute-bench-") as d,
    ):
        settings = broker_settings(broker, web_port=free_port(), data_dir=d)
        env = {
            "DESKROUTE_DEDUPE_RETENTION_S": str(RETENTION_S),
            "DESKROUTE_TICK_SECONDS": "1",
            "DESKROUTE_FETCH_MAX_WAIT_MS": str(FETCH_MAX_WAIT_MS),
        }
        worker = WorkerProcess(settings, LOG_DIR / "memory-worker.log", env)
        try:
            result = asyncio.run(_run(worker, total, _pid(broker)))
        finally:
            worker.stop()
        result.update(worker.report_problems("memory"))
        return result


def _pid(broker: EmbeddedBroker) -> int:
    return broker.proc.pid if broker.proc else 0


if __name__ == "__main__":
    # ``make bench-memory``: this benchmark alone, its figures as one JSON line.
    print(json.dumps(run(0)), flush=True)
