"""What a worker's readiness and consumer lag are, read off the running Faust app.

Both feed the same two consumers, the ``/health/ready`` view and the scrape
(``deskroute_ready``, ``deskroute_consumer_lag``), so Kubernetes and Prometheus
can never disagree about whether a worker serves.
"""

from __future__ import annotations

from typing import Any

from streams.config_store import ConfigStore
from streams.kafka import CONSUMED


def readiness_checks(app: Any, store: ConfigStore) -> dict[str, bool]:
    """Each condition a worker needs before its routing can be trusted.

    ``tables_recovered`` is Faust's own recovery state: until it is set the
    state table may be behind its changelog, and a decision made on it could
    double-book an agent. A worker with no partition assigned (more workers
    than partitions) is live but not ready: it routes nothing.
    """
    recovery = app.tables.recovery
    try:
        assigned = bool(app.consumer.assignment())
    except Exception:  # the consumer is not started yet
        assigned = False
    return {
        "configs_loaded": store.ready.is_set(),
        "tables_recovered": recovery.completed.is_set() and not recovery.in_recovery,
        "not_rebalancing": not app.rebalancing,
        "partitions_assigned": assigned,
    }


def consumer_offsets(app: Any) -> list[tuple[str, int, int, int | None]]:
    """(topic, partition, high watermark, committed offset) of the stages' inputs.

    Changelog partitions are left out: their position is table recovery's, not
    the stages'. A partition whose high watermark is not known yet (no fetch
    answered since the assignment) is left out rather than shown as 0 lag.
    """
    consumer = app.consumer
    rows: list[tuple[str, int, int, int | None]] = []
    try:
        assignment = consumer.assignment()
    except Exception:
        return rows
    committed = consumer._committed_offset
    for tp in sorted(assignment):
        if tp.topic not in CONSUMED:
            continue
        try:
            highwater = consumer.highwater(tp)
        except Exception:  # revoked between the two calls
            continue
        if highwater is None:
            continue
        rows.append((tp.topic, tp.partition, int(highwater), committed.get(tp)))
    return rows
