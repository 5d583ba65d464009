"""Dead letters for payloads the gateway authenticated but could not turn into events.

The raw body is kept (base64) with the request headers that explain it, so an
operator can fix the adapter and replay; credentials are never copied. Bodies too
large to keep whole are cut (:mod:`schemas.dead_letters`) and say so, rather than
being retried forever.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from adapters import Rejected
from schemas.dead_letters import KEEP_BYTES
from schemas.dead_letters import dead_letter as _dead_letter
from schemas.events import EventDeadLettered

#: Request headers worth keeping with a dead letter (never Authorization).
KEPT_HEADERS = (
    "content-type",
    "user-agent",
    "x-envelope-to",
    "x-hub-signature-256",
    "x-twitter-webhooks-signature",
    "x-viber-content-signature",
    "x-twilio-signature",
    "i-twilio-idempotency-token",
)


def dead_letter(
    route: str, tenant: str, body: bytes, headers: Mapping[str, str], rejected: Rejected
) -> EventDeadLettered:
    kept = {k: headers[k][:500] for k in KEPT_HEADERS if k in headers}
    kept["x-deskroute-route"] = route
    kept["x-deskroute-tenant"] = tenant
    if len(body) > KEEP_BYTES:
        kept["x-deskroute-original-bytes"] = str(len(body))
    return _dead_letter(
        # Never stored on a topic: the record names the gateway route it came to.
        topic=f"gateway:{route}",
        partition=-1,
        offset=-1,
        reason=rejected.reason,
        detail=rejected.detail,
        original=body,
        headers=kept,
        occurred_at=time.time(),
    )
