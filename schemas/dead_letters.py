"""Dead letters that can always be written and read back.

A dead letter embeds the refused record (base64) so an operator can fix the
cause and replay it. A record of any size may be refused, but the dead letter
must fit in one Kafka record and under the codec's limits, or writing it would
crash the stage and reading it would fail. So originals up to :data:`KEEP_BYTES` are kept whole and
larger ones are cut to that prefix; the size and SHA-256 of the whole say what
was cut and identify it where it is still stored (the source topic, offset).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping

from schemas.events import EventDeadLettered

#: Largest original kept whole: its base64 (4/3 of it) and the rest of the dead
#: letter stay under the 1 MiB record limit of the codec and of Kafka's defaults.
KEEP_BYTES = 700_000
#: Longest base64 of a kept original, the codec's limit for ``original_b64``.
KEEP_B64_CHARS = 4 * -(-KEEP_BYTES // 3)
#: Kafka headers kept, and the longest value kept of each.
HEADERS_KEPT = 16
HEADER_CHARS = 200
#: Longest ``detail`` kept.
DETAIL_CHARS = 1000


def dead_letter(
    *,
    topic: str,
    partition: int,
    offset: int,
    reason: str,
    detail: str,
    original: bytes,
    headers: Mapping[str, str],
    occurred_at: float,
) -> EventDeadLettered:
    kept = original if len(original) <= KEEP_BYTES else original[:KEEP_BYTES]
    return EventDeadLettered(
        topic=topic,
        partition=partition,
        offset=offset,
        reason=reason,
        detail=detail[:DETAIL_CHARS],
        original_b64=base64.b64encode(kept).decode("ascii"),
        headers={
            k[:HEADER_CHARS]: v[:HEADER_CHARS] for k, v in list(headers.items())[:HEADERS_KEPT]
        },
        occurred_at=occurred_at,
        original_bytes=len(original),
        original_sha256=hashlib.sha256(original).hexdigest(),
    )
