"""Raw RFC 5322 / MIME mail into one canonical event.

The stdlib parser with the modern policy reads the structure; header values that
its stricter header classes choke on are read again from the raw text, because
real mail (and spam, which help desks receive plenty of) is often malformed and
still has to reach a person or a dead letter with a reason.
"""

from __future__ import annotations

import email.errors
import email.header
import email.utils
import hashlib
import re
from datetime import UTC
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import Any

from adapters.fields import MAX_SUBJECT_CHARS, MAX_TEXT_CHARS, clean, clip
from adapters.html_text import html_to_text
from adapters.result import AdapterError, Context, Parsed, Result, adapter
from schemas.events import Customer, InboundReceived

#: What the stdlib email package raises on input it did not foresee (known parser
#: bugs on malformed headers and parameters); caught field by field.
_EMAIL_ERRORS = (
    ValueError,
    TypeError,
    LookupError,
    IndexError,
    AttributeError,
    AssertionError,
    email.errors.MessageError,
)
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MSGID = re.compile(r"<([^<>\s]+)>")
_MAX_ID_CHARS = 300
_MAX_ATTACHMENTS = 100
_MAX_RECIPIENTS = 20
_MAX_DEPTH = 30
#: Machine-readable parts of reports: metadata, not files a customer attached.
_REPORT_PARTS = {
    "message/delivery-status",
    "message/feedback-report",
    "message/disposition-notification",
    "text/rfc822-headers",
}
_DAEMONS = {"mailer-daemon", "mail-daemon", "mailerdaemon"}
#: A person may write from postmaster@; a bounce from there has a null return path
#: or says so in its subject.
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|returned mail|delivery (status|failure|notification|has failed)|failure notice",
    re.IGNORECASE,
)
_META_CHARSET = re.compile(rb"<meta[^>]{0,200}charset=[\"']?([A-Za-z0-9_.:-]{1,40})", re.IGNORECASE)
_AUTO_SUBMITTED = {"auto-replied": "auto-reply"}
_PRECEDENCE = {"bulk": "bulk", "list": "bulk", "junk": "bulk", "auto_reply": "auto-reply"}
_REPORT_TYPES = {
    "delivery-status": "bounce",
    "feedback-report": "complaint",
    "disposition-notification": "receipt",
}


@adapter
def parse_email(raw: bytes, ctx: Context) -> Result:
    """One message (``message/rfc822`` bytes) into an event on the email channel.

    ``event_id`` is the Message-ID (or a hash of the bytes when there is none, so
    a redelivery keeps its id); ``conversation_id`` is the thread's root from
    References / In-Reply-To; automatic mail is flagged in
    ``attributes["automatic"]`` (bounce, complaint, receipt, auto-reply,
    auto-generated, bulk) for the rules to keep away from agents.
    """
    if not raw.strip():
        raise AdapterError("empty", "the body is empty")
    if raw.startswith(_OLE2_MAGIC):
        raise AdapterError(
            "not_rfc822", "an Outlook .msg file (OLE2 compound document); save it as .eml"
        )
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
    except _EMAIL_ERRORS as exc:
        raise AdapterError("not_rfc822", f"{type(exc).__name__}: {exc}"[:300]) from None
    if not msg.keys():
        raise AdapterError("not_rfc822", "no header fields before the first empty line")

    senders = _addresses(msg, "From") or _addresses(msg, "Sender")
    if not senders:
        has_from = any(k.lower() == "from" for k, _ in msg.raw_items())
        present = "present but unreadable" if has_from else "absent"
        raise AdapterError("missing_sender", f"From: {present}, and no Sender either")
    display, address = senders[0]

    to = [a for _, a in _addresses(msg, "To")]
    cc = [a for _, a in _addresses(msg, "Cc")]
    mailbox = _mailbox(msg, ctx, to, cc)
    own_id = _first_id(_header(msg, "Message-ID"))
    event_id = f"email:{own_id}" if own_id else f"email:sha256:{_digest(raw)}"
    parent = _first_id(_header(msg, "In-Reply-To"))
    refs = _MSGID.findall(_header(msg, "References"))
    root = next((r for r in refs if len(r) <= _MAX_ID_CHARS), "") or parent or own_id
    conversation_id = f"email:{root}" if root else event_id

    subject, subject_cut = clip(" ".join(_header(msg, "Subject").split()), MAX_SUBJECT_CHARS)
    body, text, body_type = _body(msg)
    text, text_cut = clip(text, MAX_TEXT_CHARS)

    attributes: dict[str, Any] = {"mailbox": mailbox, "to": to[:_MAX_RECIPIENTS]}
    if cc:
        attributes["cc"] = cc[:_MAX_RECIPIENTS]
    if own_id:
        attributes["message_id"] = own_id
    if parent:
        attributes["in_reply_to"] = parent
    sent_at = _date(_header(msg, "Date"))
    if sent_at is not None:
        attributes["sent_at"] = sent_at
    if body_type:
        attributes["body_type"] = body_type
    attachments = _attachments(msg, body)
    if attachments:
        attributes["attachments"] = attachments[:_MAX_ATTACHMENTS]
        if len(attachments) > _MAX_ATTACHMENTS:
            attributes["attachments_omitted"] = len(attachments) - _MAX_ATTACHMENTS
    automatic = _automatic(msg, address)
    if automatic:
        attributes["automatic"] = automatic
    if text_cut:
        attributes["text_truncated"] = True
    if subject_cut:
        attributes["subject_truncated"] = True
    if msg.defects:
        attributes["mime_defects"] = len(msg.defects)

    event = InboundReceived(
        event_id=event_id,
        tenant=ctx.tenant,
        channel="email",
        source=f"email:{mailbox}" if mailbox else "email",
        conversation_id=conversation_id,
        customer=Customer(address, display, address if "@" in address else ""),
        received_at=ctx.now,
        subject=subject,
        text=text,
        attributes=attributes,
    )
    return Parsed((event,))


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:32]


def _header(msg: EmailMessage, name: str) -> str:
    """A header's decoded text ("" when absent), from the raw value if parsing fails."""
    try:
        value = msg[name]
        text = "" if value is None else str(value)
    except _EMAIL_ERRORS:
        raw = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), "")
        try:
            text = str(email.header.make_header(email.header.decode_header(raw)))
        except _EMAIL_ERRORS:
            text = raw
    return clean(text)


def _addresses(msg: EmailMessage, name: str) -> list[tuple[str, str]]:
    """(display name, lower-cased address) of a header, skipping what is not an address."""
    found: list[tuple[str, str]] = []
    try:
        header = msg[name]
        pairs = [(a.display_name, a.addr_spec) for a in header.addresses] if header else []
    except _EMAIL_ERRORS:
        pairs = []
    if not pairs:
        raw = [v for k, v in msg.raw_items() if k.lower() == name.lower()]
        try:
            pairs = email.utils.getaddresses([_decoded(v) for v in raw])
        except _EMAIL_ERRORS:
            pairs = []
    for display, addr in pairs:
        addr = clean(addr).strip().strip("<>").lower()
        if addr and len(addr) <= _MAX_ID_CHARS and addr.isprintable() and " " not in addr:
            found.append((" ".join(clean(display).split())[:200], addr))
    return found


def _decoded(raw: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(raw)))
    except _EMAIL_ERRORS:
        return raw


def _mailbox(msg: EmailMessage, ctx: Context, to: list[str], cc: list[str]) -> str:
    """Which of the tenant's mailboxes received this: the envelope first, then headers."""
    candidates = [ctx.headers.get("x-envelope-to", "").strip().lower()]
    for name in ("Delivered-To", "X-Original-To"):
        candidates += [a for _, a in _addresses(msg, name)]
    candidates = [c for c in candidates + to + cc if c]
    if ctx.mailboxes:
        ours = {m.lower() for m in ctx.mailboxes}
        for c in candidates:
            if c in ours:
                return c
    return candidates[0] if candidates else ""


def _first_id(value: str) -> str:
    """The first ``<id>`` of a header; a bare token when the brackets are missing."""
    ids = _MSGID.findall(value)
    if ids:
        found: str = ids[0]
    else:
        tokens = value.split()
        found = tokens[0] if len(tokens) == 1 else ""
    return found if len(found) <= _MAX_ID_CHARS and found.isprintable() else ""


def _date(value: str) -> float | None:
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except _EMAIL_ERRORS:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _ctype(part: Message) -> str:
    try:
        return part.get_content_type()
    except _EMAIL_ERRORS:
        return "application/octet-stream"


def _body(msg: EmailMessage) -> tuple[Message | None, str, str]:
    """The body part, its text and type: text/plain unless empty, else HTML as text."""
    for preference in ("plain", "html"):
        try:
            part = msg.get_body(preferencelist=(preference,))
        except _EMAIL_ERRORS:
            continue
        if part is None:
            continue
        text = _decode(part)
        if preference == "html":
            text = html_to_text(text)
        text = text.replace("\r\n", "\n").strip()
        if text:
            return part, text, _ctype(part)
    return None, "", ""


def _decode(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except _EMAIL_ERRORS:
        return ""
    if not isinstance(payload, bytes):
        return ""
    try:
        declared = part.get_content_charset() or _meta_charset(payload) or "utf-8"
    except _EMAIL_ERRORS:
        declared = "utf-8"
    for charset in (declared, "utf-8"):
        try:
            return clean(payload.decode(charset))
        except (LookupError, ValueError):
            continue
    return payload.decode("utf-8", "replace")


def _meta_charset(payload: bytes) -> str:
    """The charset an HTML body declares in a <meta> tag, when the MIME header did not."""
    found = _META_CHARSET.search(payload[:4096])
    return found.group(1).decode("ascii").lower() if found else ""


def _attachments(msg: EmailMessage, body: Message | None) -> list[dict[str, Any]]:
    """Name, type and size of every file-like part; their content stays out of Kafka."""
    found: list[dict[str, Any]] = []

    def visit(part: Message, depth: int) -> None:
        if depth > _MAX_DEPTH or len(found) > _MAX_ATTACHMENTS:
            return
        ctype = _ctype(part)
        if ctype.startswith("multipart/"):
            payload = part.get_payload()
            if isinstance(payload, list):
                for sub in payload:
                    if isinstance(sub, Message):
                        visit(sub, depth + 1)
            return
        if part is body or ctype in _REPORT_PARTS:
            return
        try:
            name = part.get_filename() or ""
            disposition = part.get_content_disposition()
        except _EMAIL_ERRORS:
            name, disposition = "", None
        if ctype in ("text/plain", "text/html") and not name and disposition != "attachment":
            return  # an alternative rendering of the body, not a file
        info: dict[str, Any] = {"name": clean(name)[:255], "type": ctype}
        size = _size(part)
        if size is not None:
            info["size"] = size
        if disposition == "inline":
            info["inline"] = True
        found.append(info)

    visit(msg, 0)
    return found


def _size(part: Message) -> int | None:
    try:
        if _ctype(part).startswith("message/"):
            return len(part.as_bytes())
        payload = part.get_payload(decode=True)
    except _EMAIL_ERRORS:
        return None
    return len(payload) if isinstance(payload, bytes) else None


def _automatic(msg: EmailMessage, sender: str) -> str:
    """Why this mail was sent by a machine ("" for a person), most specific first."""
    ctype = _ctype(msg)
    if ctype == "multipart/report":
        try:
            report = str(msg.get_param("report-type", "") or "").lower()
        except _EMAIL_ERRORS:
            report = ""
        if report in _REPORT_TYPES:
            return _REPORT_TYPES[report]
    if ctype == "message/delivery-status":
        return "bounce"
    local = sender.split("@", 1)[0]
    if local in _DAEMONS:
        return "bounce"
    if local == "postmaster" and (
        _header(msg, "Return-Path").strip() == "<>"
        or _header(msg, "X-Envelope-From").strip() == "<>"
        or _BOUNCE_SUBJECT.search(_header(msg, "Subject"))
    ):
        return "bounce"
    auto = _header(msg, "Auto-Submitted").strip().lower().split(";")[0].strip()
    if auto and auto != "no":
        return _AUTO_SUBMITTED.get(auto, "auto-generated")
    if _header(msg, "X-Autoreply") or _header(msg, "X-Autorespond"):
        return "auto-reply"
    precedence = _header(msg, "Precedence").strip().lower()
    return _PRECEDENCE.get(precedence, "")
