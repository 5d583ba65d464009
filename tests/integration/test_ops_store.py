"""The production table store (``DESKROUTE_STORE=rocksdb://``) on the real broker,
and the rule that a local store left by a crashed worker is rebuilt, not trusted."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from schemas.events import AgentPresenceChanged, Customer, InboundReceived, TicketAssigned
from streams import topics
from streams.worker import RUNNING_FLAG, claim_local_state
from tests.support import Cluster, Outputs, config_from

CONFIG = """
tenant: acme
default_department: support
departments:
  - {id: support, strategy: least-load}
agents:
  - {id: ann, departments: [support], capacity: {email: 5}}
"""


def test_claim_local_state_keeps_a_clean_store_and_drops_a_crashed_one(tmp_path: Path) -> None:
    tables = tmp_path / "tables"
    assert claim_local_state(tables) is False  # first start: nothing to drop
    (tables / "state-0.db").write_text("rows")
    (tables / RUNNING_FLAG).unlink()  # a clean exit removes the flag
    assert claim_local_state(tables) is False
    assert (tables / "state-0.db").exists()
    # No clean exit since: the process died; its rows may be half an event.
    assert claim_local_state(tables) is True
    assert not (tables / "state-0.db").exists()
    assert (tables / RUNNING_FLAG).exists()


@pytest.mark.broker
def test_rocksdb_store_routes_and_marks_clean_and_unclean_exits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESKROUTE_STORE", "rocksdb://")

    async def scenario(cluster: Cluster) -> None:
        await cluster.prepare(config_from(CONFIG))
        outputs = Outputs(cluster.settings)
        await outputs.start()
        try:
            worker = cluster.start_worker()
            await cluster.ready(worker)
            now = time.time()
            online = AgentPresenceChanged("on-ann", "acme", "ann", "online", now)
            tickets = [
                InboundReceived(f"t{i}", "acme", "email", "email:x", f"c{i}", Customer("c"), now)
                for i in range(3)
            ]
            await cluster.send_all(
                [(topics.AGENT_EVENTS, online)] + [(topics.INBOUND["email"], t) for t in tickets],
                b"acme",
            )
            assigned = await outputs.wait_for(TicketAssigned, 3)
            assert {a.agent_id for a in assigned} == {"ann"}
            tables = tmp_path / "data-1" / "v1" / "tables"
            assert (tables / RUNNING_FLAG).exists()
            assert any(
                p.suffix == ".db" or p.is_dir() for p in tables.iterdir() if p.name != RUNNING_FLAG
            )
            worker.stop()
            assert worker.proc.returncode == 0, worker.log_tail()
            assert not (tables / RUNNING_FLAG).exists(), "a clean stop keeps the store"

            crashed = cluster.start_worker()
            await cluster.ready(crashed)
            crashed.kill()
            assert (tmp_path / "data-2" / "v1" / "tables" / RUNNING_FLAG).exists()
        finally:
            await outputs.stop()

    with Cluster(tmp_path) as cluster:
        asyncio.run(scenario(cluster))
