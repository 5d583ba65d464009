"""The broker out of reach for longer than the worker's producer retries a record.

A worker started behind a backlog of traffic is working through it when the link
to the broker is held (requests go out, no answer comes back) for longer than
``DESKROUTE_DELIVERY_TIMEOUT_S``: the producer gives up on the records it holds,
outputs and changelog rows of events the worker already read and acknowledged. The worker must not commit past those events: it exits by itself
(status 70) with the reason in its log, and a new worker, started once the link is
back, reads them again. The final record must account for every accepted ticket,
one agent per ticket, no agent over capacity.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from schemas.events import TicketAssigned
from streams.kafka import EXIT_UNDELIVERED
from tests.faults.harness import (
    Outputs,
    ProxiedCluster,
    Traffic,
    check_final_record,
    say,
    tenant_config,
)
from tests.support import eventually

pytestmark = pytest.mark.broker

TENANTS = ["acme", "globex"]
RATE = 60.0
#: Tickets acknowledged to the channels before the worker starts.
BACKLOG = 300
#: The worker's producer gives up on a record after this long.
DELIVERY_TIMEOUT_S = 4
#: The link is held for longer than that.
HOLD_S = 3 * DELIVERY_TIMEOUT_S


def test_a_worker_whose_records_go_undelivered_exits_before_committing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESKROUTE_DELIVERY_TIMEOUT_S", str(DELIVERY_TIMEOUT_S))

    async def scenario() -> None:
        configs = {t: tenant_config(t) for t in TENANTS}
        with ProxiedCluster(tmp_path) as cluster:
            for cfg in configs.values():
                await cluster.prepare(cfg)
            out = Outputs(cluster.settings)
            await out.start()
            traffic = Traffic(
                cluster.settings, TENANTS, out, rate=RATE, seed=11, hold_s=(0.05, 0.6)
            )
            await traffic.start()
            await eventually(lambda: traffic.tickets_sent >= BACKLOG, 60, "a backlog")
            worker = cluster.start_worker()

            def assigned() -> int:
                return len({e.ticket_id for e in out.of(TicketAssigned)})

            try:
                # Mid-backlog: records read, their outputs on their way to the broker.
                await eventually(lambda: assigned() >= 25, 60, "assignments before the cut")
                started = time.monotonic()
                cluster.proxy.cut("hold")
                say(
                    f"injected: the link held for {HOLD_S}s (delivery timeout"
                    f" {DELIVERY_TIMEOUT_S}s) with {assigned()} tickets assigned and"
                    f" {traffic.tickets_sent} acknowledged"
                )
                await eventually(
                    lambda: worker.proc.poll() is not None, HOLD_S, "the worker to exit by itself"
                )
                exited_after = time.monotonic() - started
                assert worker.proc.returncode == EXIT_UNDELIVERED, worker.log_tail()
                log = worker.log.read_text()
                assert "record not delivered: the worker exits before its next commit" in log
                say(
                    f"verified: the worker exited with status {EXIT_UNDELIVERED}"
                    f" {exited_after:.1f}s into the hold, saying which record it gave up on"
                )
                await asyncio.sleep(max(0.0, HOLD_S - (time.monotonic() - started)))
                cluster.proxy.restore()
                worker = cluster.start_worker()
                await cluster.ready(worker)
                seen = assigned()
                await eventually(lambda: assigned() >= seen + 25, 60, "assignments after restart")
                await traffic.caught_up(60, "the new worker catching up with the backlog")
                sent = await traffic.stop()
                assert sent.failed_sends == 0, "the broker refused some of the traffic"
                summary = await check_final_record(
                    cluster.settings, [worker], out, sent, configs, dump=tmp_path / "record.jsonl"
                )
                assert worker.metric("deskroute_records_undelivered_total") == 0
                say(
                    "verified: every accepted ticket has an outcome, repeats are exact, one"
                    " agent per ticket, no agent over capacity, final state = record:",
                    summary,
                )
            finally:
                await traffic.close()
                await out.stop()

    asyncio.run(scenario())
