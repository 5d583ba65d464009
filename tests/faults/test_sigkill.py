"""One worker under steady traffic is SIGKILLed mid-stream and restarted, three times.

Tickets arrive on every channel for two tenants while agents come and go, answer
the chats and calls offered to them (or let them time out) and finish their work;
each incarnation of the worker is killed while it is busy (nothing is flushed,
committed or closed), and a fresh one takes over from the changelog. The final
record must account for every accepted ticket, name one agent per ticket, never
have put an agent over capacity, match the state the last worker holds, and show
offers and their timeouts going on under the last worker.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from schemas.events import OfferMissed, TicketAssigned
from tests.faults.harness import (
    Outputs,
    Traffic,
    check_final_record,
    finishes_for_work_not_held,
    say,
    tenant_config,
    worker_recovery_counters,
)
from tests.support import Cluster, eventually

pytestmark = pytest.mark.broker

TENANTS = ["acme", "globex"]
KILLS = 3
RATE = 12.0  # tickets per second, over both tenants and all four channels
PROGRESS = 25  # new assignments each incarnation makes before it is killed


def test_worker_sigkilled_three_times_under_load(tmp_path: Path) -> None:
    async def scenario() -> None:
        configs = {t: tenant_config(t) for t in TENANTS}
        with Cluster(tmp_path) as cluster:
            for cfg in configs.values():
                await cluster.prepare(cfg)
            worker = cluster.start_worker()
            await cluster.ready(worker)
            out = Outputs(cluster.settings)
            await out.start()
            traffic = Traffic(cluster.settings, TENANTS, out, rate=RATE, seed=7, hold_s=(0.05, 0.6))
            await traffic.start()
            started = time.monotonic()
            not_held = 0.0

            def assigned() -> int:
                return len({e.ticket_id for e in out.of(TicketAssigned)})

            try:
                for kill in range(1, KILLS + 1):
                    # Mid-stream: this incarnation is assigning tickets while more arrive.
                    seen = assigned()
                    await eventually(
                        lambda seen=seen: assigned() >= seen + PROGRESS,  # type: ignore[misc]
                        60,
                        f"assignments by worker incarnation {kill}",
                    )
                    pid = worker.proc.pid
                    not_held += finishes_for_work_not_held(worker)
                    worker.kill()
                    say(
                        f"injected: SIGKILL {kill}/{KILLS} of worker pid {pid} at"
                        f" t={time.monotonic() - started:.1f}s, {traffic.tickets_sent} tickets"
                        f" acknowledged so far, {assigned()} assigned"
                    )
                    worker = cluster.start_worker()
                    await cluster.ready(worker)
                    last_restart = time.time()
                    say(
                        f"restarted: worker pid {worker.proc.pid} ready at"
                        f" t={time.monotonic() - started:.1f}s"
                    )
                # The last worker catches up with what arrived while its predecessors
                # were down (tickets queued by earlier incarnations drain meanwhile).
                seen = assigned()
                await eventually(
                    lambda: assigned() >= seen + PROGRESS, 60, "assignments by the last worker"
                )
                await traffic.caught_up(45, "the last worker catching up with the backlog")

                def timed_out_since_restart() -> list[OfferMissed]:
                    return [
                        m for m in out.of(OfferMissed)
                        if m.reason == "timeout" and m.occurred_at >= last_restart
                    ]  # fmt: skip

                # One offer in ten is left unanswered: the last worker's clock must
                # time one out (a catch-up can finish before the first one is due).
                await eventually(
                    lambda: bool(timed_out_since_restart()),
                    30,
                    "an offer timed out by the last worker",
                )
                say(
                    f"caught up at t={time.monotonic() - started:.1f}s:"
                    f" {assigned()} of {traffic.tickets_sent} tickets assigned"
                )
                sent = await traffic.stop()
                assert sent.failed_sends == 0, "the broker refused some of the traffic"
                summary = await check_final_record(
                    cluster.settings, [worker], out, sent, configs, dump=tmp_path / "record.jsonl"
                )
                not_held += finishes_for_work_not_held(worker)
                assert not_held == 0, (
                    f"{not_held:.0f} WorkFinished event(s) for work the worker did not think the"
                    " agent held: recovered state lost assignments"
                )
                # Offers and their timeouts resumed under the last worker: the timeouts
                # are decided on clock ticks in the stage's input, so they survive restarts.
                timed_out = timed_out_since_restart()
                answered = [
                    a for a in out.of(TicketAssigned)
                    if a.channel in ("chat", "call") and a.assigned_at >= last_restart
                ]  # fmt: skip
                assert timed_out and answered, (len(timed_out), len(answered))
                say(
                    f"verified: after the last restart {len(answered)} offers were accepted"
                    f" and {len(timed_out)} timed out (decided on the clock ticks)"
                )
                counters = worker_recovery_counters(worker)
                say(
                    f"verified after {KILLS} SIGKILLs: every accepted ticket has an outcome,"
                    " repeats are exact, one agent per ticket, no agent over capacity,"
                    " final state = record:",
                    summary,
                    "last worker:",
                    counters,
                )
                assert counters["deskroute_state_behind_commit_total"] == 0
            finally:
                await traffic.close()
                await out.stop()

    asyncio.run(scenario())
