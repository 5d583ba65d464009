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
rows, outcome records). Every input is written before the worker starts, in
ordinary batches, on a fresh broker; the worker's progress is read from its
``deskroute_stage_processing_seconds_count{stage="assignment"}`` and its RSS from
``/proc``. ``rss_growth`` = RSS at the end / RSS after :data:`FIRST_SHARE` of the
events - 1. ``BENCH_RSS_EVENTS`` sets the number of events (default
:data:`DEFAULT_EVENTS`; 1,000,000 for the issue's 100 k -> 1 M figure).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time

from bench.common import (
    LOG_DIR,
    TENANT,
    TENANT_KEY,
    broker_settings,
    fresh_broker,
    inbound_topic,
    prefill,
    say,
)
from bench.e2e import TENANT_FILE, WorkerProcess
from schemas.codec import encode
from schemas.config_file import load_config_file
from schemas.events import AgentPresenceChanged, Customer, InboundReceived
from streams import topics
from streams.admin import create_topics, publish_config, wait_for_broker
from streams.broker import free_port

DEFAULT_EVENTS = 60_000
FIRST_SHARE = 0.1
RETENTION_S = 10.0
STALL_S = 120.0
SAMPLE_S = 0.5


def events_from_env() -> int:
    raw = os.environ.get("BENCH_RSS_EVENTS", "").replace("_", "").strip()
    return int(raw) if raw else DEFAULT_EVENTS


def workload(n: int, agents: list[str]) -> list[tuple[str, bytes]]:
    """``n`` records (topic, value): dropped automatic mails and presence changes."""
    now = time.time()
    out: list[tuple[str, bytes]] = []
    away: dict[str, bool] = dict.fromkeys(agents, False)
    for i in range(n):
        if i % 2:
            agent = agents[(i // 2) % len(agents)]
            away[agent] = not away[agent]
            ev: object = AgentPresenceChanged(
                f"mem-p{i}", TENANT, agent, "away" if away[agent] else "online", now
            )
            out.append((topics.AGENT_EVENTS, encode(ev)))
        else:
            ev = InboundReceived(
                f"mem-{i}",
                TENANT,
                "email",
                "email:noreply@demo.example",
                f"conv-{i}",
                Customer(f"cust-{i % 1000}"),
                now,
                subject="Automatic reply",
                text="I am out of the office.",
                attributes={"automatic": "auto-reply"},
            )
            out.append((inbound_topic("email"), encode(ev)))
    return out


async def _measure(worker: WorkerProcess, n: int) -> dict[str, float]:
    first_at = max(1, int(n * FIRST_SHARE))
    rss_first = rows_first = 0.0
    done = 0.0
    last, last_change = -1.0, time.monotonic()
    started = time.monotonic()
    rows = 0.0
    while done < n:
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
        if not rss_first and done >= first_at:
            rss_first, rows_first = worker.rss_bytes(), rows
            say(
                f"memory: {done:.0f} events: worker RSS {rss_first / 2**20:.1f} MiB, {rows:.0f} rows"
            )
        await asyncio.sleep(SAMPLE_S)
    took = time.monotonic() - started
    rss_last = worker.rss_bytes()
    growth = rss_last / rss_first - 1 if rss_first else 0.0
    say(
        f"memory: {done:.0f} events in {took:.0f}s: worker RSS {rss_last / 2**20:.1f} MiB, "
        f"{rows:.0f} rows; growth {100 * growth:.1f} % since {first_at} events"
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
    }


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _run(worker: WorkerProcess, n: int) -> dict[str, float]:
    settings = worker.settings
    config = load_config_file(TENANT_FILE, version=1)
    await wait_for_broker(settings)
    await create_topics(settings)
    await publish_config(settings, config)
    records = [(topic, TENANT_KEY, value) for topic, value in workload(n, sorted(config.agents))]
    await prefill(settings, records, "memory")
    worker.start()
    say(f"memory: worker started (pid {worker.pid}, log {worker.log_path}), {n} events waiting")
    return await _measure(worker, n)


def run(n: int) -> dict[str, float]:
    del n  # BENCH_EVENTS sizes the throughput benchmarks; this one has its own
    total = events_from_env()
    with (
        fresh_broker("memory") as broker,
        tempfile.TemporaryDirectory(prefix="deskroute-bench-") as d,
    ):
        settings = broker_settings(broker, web_port=free_port(), data_dir=d)
        env = {"DESKROUTE_DEDUPE_RETENTION_S": str(RETENTION_S), "DESKROUTE_TICK_SECONDS": "1"}
        worker = WorkerProcess(settings, LOG_DIR / "memory-worker.log", env)
        try:
            result = asyncio.run(_run(worker, total))
        finally:
            worker.stop()
        result.update(worker.report_problems("memory"))
        return result
