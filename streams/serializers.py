"""Faust codecs for table keys and the immutable state values.

Table values are our frozen dataclasses: orjson writes them natively, and the
schema decoder rebuilds them when a worker recovers a table from its changelog,
so a value read from a table is always the same type, fresh or recovered.
"""

from __future__ import annotations

from typing import Any

import orjson
from faust.serializers import codecs

from agents_state.model import AgentState, DepartmentState, TicketState
from schemas.codec import builder_for


class Utf8(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        return obj.encode("utf-8") if isinstance(obj, str) else bytes(obj)

    def _loads(self, s: bytes) -> str:
        return s.decode("utf-8")


class StateCodec(codecs.Codec):
    def __init__(self, cls: type[Any]) -> None:
        super().__init__()
        self._build = builder_for(cls)
        self._name = cls.__name__

    def _dumps(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def _loads(self, s: bytes) -> Any:
        return self._build(orjson.loads(s), self._name)


class Json(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def _loads(self, s: bytes) -> Any:
        return orjson.loads(s)


def register() -> None:
    codecs.register("dr_key", Utf8())
    codecs.register("dr_agent", StateCodec(AgentState))
    codecs.register("dr_department", StateCodec(DepartmentState))
    codecs.register("dr_ticket", StateCodec(TicketState))
    codecs.register("dr_json", Json())
