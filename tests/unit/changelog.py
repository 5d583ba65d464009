"""A state table driven without a broker: changelog records fed as Faust's recovery
feeds them, for the tests of the table and of the worker's view over it."""

from __future__ import annotations

from typing import Any

import faust
from faust.types import TP

from streams.state_table import AtomicTable, Marker, _Row, _RowMessage, marker_key

#: tenant -> the partition its rows live on.
HOME = {"acme": 1, "globex": 2}


class Log:
    """A changelog partition: rows written with consecutive offsets."""

    def __init__(self, partition: int) -> None:
        self.partition = partition
        self.offset = 0

    def row(self, key: str, value: Any) -> _Row:
        self.offset += 1
        raw = None if value is None else b"v"
        return _Row(key, value, _RowMessage(self.partition, self.offset, raw))

    def marker(self, source_offset: int) -> _Row:
        return self.row(marker_key(self.partition), Marker({"routed": source_offset}))


def memory_table(name: str, sent: list[Any] | None = None) -> AtomicTable:
    """An in-memory state table whose changelog writes go to ``sent`` (or nowhere)."""
    app = faust.App(name, broker="kafka://127.0.0.1:1", store="memory://")
    t = AtomicTable(app, name="state", partitions=4)
    t.partition_of = HOME.__getitem__
    box = [] if sent is None else sent
    t.send_changelog = lambda partition, key, value, *a, **kw: box.append((partition, key, value))  # type: ignore[method-assign,assignment]
    return t


def changelog_tps(t: AtomicTable, *partitions: int) -> set[TP]:
    return {TP(t.changelog_topic.get_topic_name(), p) for p in partitions}
