"""Every file of the shared corpus through its adapter: parsed, or rejected for a precise reason.

The corpus is read in place (``../shared/corpus`` beside the repository). A file
added there without an expectation here fails the test, so nobody's new sample
is silently skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters import Context, Parsed, Rejected, parse
from schemas.codec import decode, encode
from tests.support import ROOT

CORPUS = ROOT.parent / "shared" / "corpus"
NOW = 1_700_000_000.0
CTX = Context("acme", now=NOW)

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"{CORPUS} is absent")

#: Files that are rejected, with the reason; every other payload must parse.
REJECTED = {
    "emails_flanker/attached-pdf.eml": "missing_sender",
    "emails_flanker/bounce/delayed-broken.eml": "missing_sender",
    "emails_mailparser/mail_outlook_1.eml": "not_rfc822",
    "webhooks/twilio_voice_status_callback_completed_human.form": "call_completed",
    # Both Zammad captures were authored by the subscribed account itself.
    "webhooks/twitter_aaa_direct_message_zammad.json": "no_messages",
    "webhooks/twitter_aaa_tweet_create_zammad.json": "no_messages",
}
#: Not payloads: provenance notes and the signature vectors (tested on their own).
NOT_PAYLOADS = {"SOURCES.md", "webhooks/signature_vectors.json"}


def adapter_for(rel: str) -> str:
    if rel.endswith(".eml"):
        return "email"
    name = rel.rsplit("/", 1)[-1]
    for prefix, adapter in (("viber_", "viber"), ("twitter_", "twitter"), ("twilio_", "call")):
        if name.startswith(prefix):
            return adapter
    raise AssertionError(f"no adapter is known for corpus file {rel}; add it to this test")


def payload(path: Path) -> bytes:
    raw = path.read_bytes()
    if path.name.startswith("twitter_"):
        # Zammad stored the request as {"headers": ..., "params": body}.
        return json.dumps(json.loads(raw)["params"]).encode()
    return raw


def corpus_files() -> list[str]:
    if not CORPUS.is_dir():
        return []
    return sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.is_file())


@pytest.mark.parametrize("rel", corpus_files())
def test_every_corpus_file_parses_or_is_rejected_precisely(rel: str) -> None:
    if rel in NOT_PAYLOADS:
        return
    result = parse(adapter_for(rel), payload(CORPUS / rel), CTX)
    if rel in REJECTED:
        assert isinstance(result, Rejected), result
        assert result.reason == REJECTED[rel], result
        assert result.detail
        return
    assert isinstance(result, Parsed), result
    for event in result.events:
        assert event.tenant == "acme"
        assert event.event_id and event.conversation_id and event.customer.id
        assert decode(encode(event)) == event  # what a worker reads back is what was parsed


def only(rel: str, ctx: Context = CTX) -> object:
    result = parse(adapter_for(rel), payload(CORPUS / rel), ctx)
    assert isinstance(result, Parsed) and len(result.events) == 1, result
    return result.events[0]


def test_subject_charsets_and_text() -> None:
    ev = only("emails_flanker/bilingual-simple.eml")
    assert ev.subject == "Simple text. How are you? Как ты поживаешь?"
    assert "А эта линия по-русски." in ev.text
    assert only("emails_mailparser/mail_test_12.eml").subject == "代开各地增值税发票"
    assert only("emails_mailparser/mail_test_5.eml").subject == "Je prépare mon été zéro complexe !"
    ev = only("emails_mailparser/mail_test_18.eml")
    assert (ev.customer.name, ev.customer.email) == (
        "LastßlName, FirstName",
        "comma.name@example.com",
    )


def test_message_id_threading_and_mailbox() -> None:
    ev = only("emails_flanker/from-encoding.eml")
    assert ev.event_id == "email:33C7E4E1.2A12445E@blank.pages.de"
    # A reply joins the conversation of the thread's root (first References id).
    assert (
        ev.conversation_id == "email:Pine.BSF.3.95q.970712135859.28530B-100000@valis.worldgate.com"
    )
    assert ev.source == "email:new-httpd@apache.org"
    ev = only("emails_flanker/multi-received-headers.eml")
    assert (
        ev.attributes["in_reply_to"]
        == "AANLkTinUdYK2NpEiYCKGnCEp_OXKqst_bWNdBVHsfDVh@mail.gmail.com"
    )
    assert (
        ev.conversation_id == "email:AANLkTi=1ANR2FzeeQ-vK3-_ty0gUrOsAxMRYkob6CL-c@mail.gmail.com"
    )
    ev = only("emails_mailparser/mail_test_7.eml")  # In-Reply-To alone names the root
    assert ev.conversation_id == "email:EEDDF5F5-2786-4B3F-B15A-124A9A29A8D3@agade.info"
    ev = only(
        "emails_mailparser/mail_test_19.eml",
        Context("acme", now=NOW, mailboxes=("dave@example.com",)),
    )
    assert ev.source == "email:dave@example.com"  # the tenant's own mailbox among the recipients
    ev = only(
        "emails_flanker/text-only.eml", Context("acme", {"x-envelope-to": "Help@Acme.example"}, NOW)
    )
    assert ev.source == "email:help@acme.example"  # the envelope beats the headers


def test_missing_message_id_gets_a_stable_synthetic_id() -> None:
    first = only("emails_flanker/multipart.eml")
    again = only("emails_flanker/multipart.eml")
    assert first.event_id.startswith("email:sha256:") and first.event_id == again.event_id
    assert first.conversation_id == first.event_id


@pytest.mark.parametrize(
    ("rel", "kind"),
    [
        ("emails_flanker/bounce/delayed.eml", "bounce"),
        ("emails_flanker/bounce/office365.eml", "bounce"),
        ("emails_flanker/bounce/gmail-invalid-address.eml", "bounce"),
        ("emails_flanker/bounce/broken-mime.eml", "bounce"),
        ("emails_mailparser/mail_malformed_2.eml", "bounce"),
        ("emails_flanker/complaints/aol.eml", "complaint"),
        ("emails_flanker/complaints/yahoo.eml", "complaint"),
        ("emails_flanker/disposition-notification.eml", "receipt"),
        ("emails_mailparser/mail_test_16.eml", "bulk"),
    ],
)
def test_automatic_mail_is_flagged(rel: str, kind: str) -> None:
    assert only(rel).attributes["automatic"] == kind


@pytest.mark.parametrize(
    "rel",
    ["emails_flanker/text-only.eml", "emails_flanker/long-links.eml", "emails_flanker/iphone.eml"],
)
def test_mail_from_people_is_not_flagged(rel: str) -> None:
    # long-links.eml is from postmaster@ but is a person's mail, not a bounce.
    assert "automatic" not in only(rel).attributes


def test_attachments_are_metadata_only() -> None:
    ev = only("emails_flanker/mailgun-pic.eml")
    assert ev.attributes["attachments"] == [
        {"name": "mailgun.png", "type": "image/png", "size": 60168}
    ]
    assert "Мейлган" in ev.text
    ev = only("emails_flanker/bz2-attachment.eml")
    assert ev.attributes["attachments"][0]["name"] == "foo.txt.bz2"


def test_html_only_mail_is_reduced_to_text() -> None:
    ev = only("emails_flanker/long-links.eml")
    assert ev.attributes["body_type"] == "text/html"
    assert "<" not in ev.text and ev.text.startswith("http://www.longurlmaker.com/")
    ev = only("emails_mailparser/mail_test_17.eml")  # empty text/plain, HTML says "Test"
    assert ev.text == "Test"


def test_viber_unicode_message() -> None:
    ev = only("webhooks/viber_message_unicode.json")
    assert ev.event_id == "viber:4912661846655238145"
    assert ev.channel == "social" and ev.source == "viber"
    assert ev.text.startswith("批封廟根縄華勢田郎報株聞。") and ev.text.endswith("盛治融。")
    assert ev.customer.name.startswith("ふで都急ぼちラり面関")
    assert ev.conversation_id == "viber:01234567890A="
    assert ev.received_at == 1457764197.627


def flipped(rel: str) -> bytes:
    """The same capture as the other party's account would have received it."""
    params = json.loads((CORPUS / rel).read_bytes())["params"]
    params["for_user_id"] = "456"
    return json.dumps(params).encode()


def test_twitter_dm() -> None:
    rel = "webhooks/twitter_aaa_direct_message_zammad.json"
    own = parse("twitter", payload(CORPUS / rel), CTX)
    assert isinstance(own, Rejected) and own.ignored and "own_message" in own.detail
    result = parse("twitter", flipped(rel), CTX)
    assert isinstance(result, Parsed)
    (ev,) = result.events
    assert (ev.event_id, ev.text, ev.source) == (
        "twitter:dm:1062015437679050760",
        "Hey! Hello!",
        "twitter:456",
    )
    assert (ev.customer.id, ev.customer.name) == ("twitter:123", "Zammad HQ")
    assert ev.conversation_id == "twitter:dm:456:123"
    assert ev.attributes["screen_name"] == "zammadhq"


def test_twitter_tweet() -> None:
    rel = "webhooks/twitter_aaa_tweet_create_zammad.json"
    result = parse("twitter", flipped(rel), CTX)
    assert isinstance(result, Parsed)
    (ev,) = result.events
    assert ev.event_id == "twitter:tweet:1063212927510081536"
    assert ev.text == "Hey @medenhofer !  #hello1234 https://t.co/f1kffFlwpN"
    assert ev.received_at == 1542324690.116
    # The captured request wrapper itself is not what X sends.
    raw = parse("twitter", (CORPUS / rel).read_bytes(), CTX)
    assert isinstance(raw, Rejected) and raw.reason == "missing_field"


def test_twilio_form() -> None:
    rel = "webhooks/twilio_voice_status_callback_completed_human.form"
    raw = (CORPUS / rel).read_bytes()
    done = parse("call", raw, CTX)
    assert isinstance(done, Rejected) and done.ignored and done.reason == "call_completed"
    inbound = raw.replace(b"Direction=outbound-api", b"Direction=inbound")
    ringing = parse("call", inbound.replace(b"CallStatus=completed", b"CallStatus=ringing"), CTX)
    assert isinstance(ringing, Parsed)
    (ev,) = ringing.events
    assert (ev.event_id, ev.channel, ev.source) == (
        "call:CAf19604a3eec3e63d157870c5f7f3b3a0",
        "call",
        "call:+15005550006",
    )
    assert ev.customer.id == "phone:+15107571675" and "missed" not in ev.attributes
    busy = parse("call", inbound.replace(b"CallStatus=completed", b"CallStatus=busy"), CTX)
    assert isinstance(busy, Parsed)
    assert busy.events[0].attributes["missed"] is True
    assert busy.events[0].event_id == "call:CAf19604a3eec3e63d157870c5f7f3b3a0:callback"
    outbound = parse("call", raw.replace(b"CallStatus=completed", b"CallStatus=ringing"), CTX)
    assert isinstance(outbound, Rejected) and outbound.reason == "outbound_call"
