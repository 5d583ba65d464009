"""Telephony status callbacks in Twilio's form-encoded shape.

What each ``CallStatus`` means for routing (one call = one ticket id per outcome):

* ``ringing``, ``in-progress``: a call to route, offered to an agent
  (``call:<CallSid>``; the second callback of the same call is the same ticket).
* ``no-answer``, ``busy``, ``failed``: the caller was not served; a callback
  ticket (``call:<CallSid>:callback``) flagged ``attributes["missed"] = True``.
* ``completed``: the call ended normally; nothing to route. It is a rejection
  with reason ``call_completed`` marked ignored: answered 200, never dead-lettered.
* ``queued``, ``initiated``, ``canceled`` and outbound calls (``Direction``
  ``outbound-*``, placed by us): ignored as ``call_status_ignored`` /
  ``outbound_call``.

Source is ``call:<To>`` (the number dialled selects the department).
"""

from __future__ import annotations

import email.utils
from typing import Any

from adapters.fields import load_form
from adapters.result import AdapterError, Context, Parsed, Result, adapter
from schemas.events import Customer, InboundReceived

ROUTE = ("ringing", "in-progress")
MISSED = ("no-answer", "busy", "failed")
IGNORED = ("queued", "initiated", "canceled")
_KEPT = (
    "CallStatus", "Direction", "From", "To", "CallerName", "FromCity", "FromState",
    "FromCountry", "ForwardedFrom", "ParentCallSid", "AccountSid", "CallDuration", "AnsweredBy",
)  # fmt: skip


@adapter
def parse_call(body: bytes, ctx: Context) -> Result:
    form = load_form(body)
    sid = form.get("CallSid", "").strip()
    status = form.get("CallStatus", "").strip().lower()
    if not sid:
        raise AdapterError("missing_field", "CallSid")
    if not status:
        raise AdapterError("missing_field", "CallStatus")
    if not sid.isprintable() or len(sid) > 128:
        raise AdapterError("invalid_field", "CallSid: not a usable id")
    if status == "completed":
        raise AdapterError(
            "call_completed", f"call {sid} ended normally; nothing to route", ignored=True
        )
    if status in IGNORED:
        raise AdapterError("call_status_ignored", f"call {sid} is {status}", ignored=True)
    if status not in ROUTE + MISSED:
        raise AdapterError("unknown_call_status", f"CallStatus={status!r}")
    direction = form.get("Direction", "inbound")
    if direction.startswith("outbound"):
        raise AdapterError(
            "outbound_call", f"call {sid} was placed by us ({direction})", ignored=True
        )
    caller = form.get("From", "").strip() or form.get("Caller", "").strip()
    if not caller:
        raise AdapterError("missing_field", "From")
    called = form.get("To", "").strip() or form.get("Called", "").strip()
    attributes: dict[str, Any] = {k: v[:200] for k, v in form.items() if k in _KEPT and v}
    missed = status in MISSED
    if missed:
        attributes["missed"] = True
    return Parsed(
        (
            InboundReceived(
                event_id=f"call:{sid}:callback" if missed else f"call:{sid}",
                tenant=ctx.tenant,
                channel="call",
                source=f"call:{called}" if called else "call",
                conversation_id=f"call:{sid}",
                customer=Customer(f"phone:{caller}", form.get("CallerName", "")[:200]),
                received_at=_timestamp(form.get("Timestamp", ""), ctx.now),
                subject="Missed call: call back" if missed else "",
                attributes=attributes,
            ),
        )
    )


def _timestamp(value: str, default: float) -> float:
    try:
        return email.utils.parsedate_to_datetime(value).timestamp() if value else default
    except (ValueError, TypeError, IndexError):
        return default
