"""Two workers share four partitions and four tenants under steady traffic; one is
SIGKILLed mid-stream, the survivor takes over its partitions (rebuilding their
state from the changelog), and the killed one is started again and takes its
share back. The final record must show no ticket lost, none assigned twice and
no agent over capacity, and match the state the two workers hold.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from schemas.events import TicketAssigned
from tests.faults.harness import (
    Outputs,
    Traffic,
    check_final_record,
    finishes_for_work_not_held,
    say,
    state_of,
    tenant_config,
    tenants_on_partitions,
    worker_recovery_counters,
)
from tests.support import Cluster, Worker, eventually, http_get

pytestmark = pytest.mark.broker

PARTITIONS = 4
TENANTS = tenants_on_partitions(PARTITIONS)  # one tenant on each partition
RATE = 12.0


def held(worker: Worker) -> list[str]:
    """Tenants whose state this worker serves now (another worker answers 421)."""
    out = []
    for tenant in TENANTS:
        try:
            if http_get(f"{worker.web}/state/{tenant}")[0] == 200:
                out.append(tenant)
        except OSError:
            pass
    return out


def test_two_workers_one_killed_survivor_takes_over(tmp_path: Path) -> None:
    async def scenario() -> None:
        configs = {t: tenant_config(t) for t in TENANTS}
        with Cluster(tmp_path, partitions=PARTITIONS) as cluster:
            for cfg in configs.values():
                await cluster.prepare(cfg)
            first = cluster.start_worker()
            second = cluster.start_worker()
            await cluster.ready(first)
            await cluster.ready(second)
            await eventually(
                lambda: held(first) and held(second) and len(held(first) + held(second)) == 4,
                60,
                "both workers holding tenants",
            )
            say(
                f"two workers: pid {first.proc.pid} holds {held(first)},"
                f" pid {second.proc.pid} holds {held(second)}"
            )
            out = Outputs(cluster.settings)
            await out.start()
            traffic = Traffic(cluster.settings, TENANTS, out, rate=RATE, seed=11)
            await traffic.start()
            started = time.monotonic()

            def assigned_of(tenants: list[str]) -> int:
                return len({e.ticket_id for e in out.of(TicketAssigned) if e.tenant in tenants})

            try:
                victim, survivor = first, second
                lost = held(victim)
                # Mid-stream: the victim is assigning its tenants' tickets right now.
                seen = assigned_of(lost)
                await eventually(
                    lambda: assigned_of(lost) >= seen + 25, 60, "the victim assigning tickets"
                )
                not_held = finishes_for_work_not_held(victim)
                victim.kill()
                say(
                    f"injected: SIGKILL of worker pid {victim.proc.pid} (holding {lost}) at"
                    f" t={time.monotonic() - started:.1f}s, {traffic.tickets_sent} tickets"
                    " acknowledged so far"
                )
                await eventually(
                    lambda: sorted(held(survivor)) == sorted(TENANTS),
                    60,
                    "the survivor serving every tenant",
                )
                await cluster.ready(survivor)
                seen = assigned_of(lost)
                await eventually(
                    lambda: assigned_of(lost) >= seen + 25,
                    60,
                    "the survivor assigning the lost tenants' tickets",
                )
                say(
                    f"verified: survivor pid {survivor.proc.pid} took over {lost} at"
                    f" t={time.monotonic() - started:.1f}s and assigns their tickets;"
                    f" recovery counters {worker_recovery_counters(survivor)}"
                )
                restarted = cluster.start_worker()
                await cluster.ready(restarted)
                await eventually(
                    lambda: held(restarted) and held(survivor), 60, "the partitions shared again"
                )
                say(
                    f"restarted: pid {restarted.proc.pid} holds {held(restarted)}, survivor"
                    f" {held(survivor)}, at t={time.monotonic() - started:.1f}s"
                )
                mine = held(restarted)
                seen = assigned_of(mine)
                await eventually(
                    lambda: assigned_of(mine) >= seen + 20, 60, "the restarted worker assigning"
                )
                await traffic.caught_up(45, "both workers catching up with the backlog")
                sent = await traffic.stop()
                assert sent.failed_sends == 0, "the broker refused some of the traffic"
                live = [survivor, restarted]
                assert all(state_of(live, t) is not None for t in TENANTS)
                summary = await check_final_record(
                    cluster.settings, live, out, sent, configs, dump=tmp_path / "record.jsonl"
                )
                not_held += sum(finishes_for_work_not_held(w) for w in live)
                assert not_held == 0, (
                    f"{not_held:.0f} WorkFinished event(s) for work the workers did not think the"
                    " agent held: recovered state lost assignments"
                )
                say(
                    "verified: no ticket lost, none assigned twice, no agent over capacity,"
                    " both workers' state = record:",
                    summary,
                )
            finally:
                await traffic.close()
                await out.stop()

    asyncio.run(scenario())
