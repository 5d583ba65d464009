"""``deskroute explain``: every evaluated rule, each condition with its actual value, the outcome."""

from __future__ import annotations

import io
import json
from pathlib import Path

import orjson
import pytest

from rules import explain, facts_for, route
from schemas.codec import encode
from schemas.config_file import load_config_file
from schemas.events import Customer, InboundReceived
from streams.cli import main

from .builders import DEMO_CONFIG

#: Thu 2026-05-28 10:00 in Paris: the demo's support department is open.
OPEN = 1_779_955_200.0


def billing_mail(**attributes: object) -> InboundReceived:
    return InboundReceived(
        "email:<m1@example.org>",
        "demo",
        "email",
        "email:billing@demo.example",
        "email:<m1@example.org>",
        Customer("c1", "Ada", "ada@example.org"),
        OPEN,
        subject="Invoice 42",
        attributes=dict(attributes),
    )


EXPECTED = """\
event email:<m1@example.org>: email from email:billing@demo.example at 2026-05-28 08:00:00 UTC
config demo version 1: 10 rules; triggers: ticket_created
index: 4 rule(s) skipped (an exact-match condition on channel/source/mailbox/chat_button/called_number cannot hold)

1. drop-automatic-mail: no match
     failed automatic in ['bounce', 'complaint', 'auto-reply']   (actual: not set)
2. vip-first: MATCHED  [stop: false]
   any of, group 1:
     held   customer.vip equals true   (actual: true)
   any of, group 2:
     failed customer.plan in ['enterprise', 'premium']   (actual: not set)
     -> priority 1
     -> tag +vip
3. after-hours-tag: no match  [stop: false]
     failed time outside_hours support   (actual: Thu 2026-05-28 10:00 CEST)
4. billing-mailbox: MATCHED
     held   channel in ['email']   (actual: 'email')
     held   source in ['email:billing@demo.example', 'email:invoices@demo.example']   (actual: 'email:billing@demo.example')
     -> transfer: - -> billing
stopped after billing-mailbox

outcome: department billing by rule billing-mailbox; priority 1; tags [vip]; 4 rule(s) evaluated, matched: vip-first, billing-mailbox"""


def test_explain_shows_every_rule_condition_value_and_outcome() -> None:
    config = load_config_file(DEMO_CONFIG)
    decision, text = explain(config, facts_for(billing_mail(customer={"vip": True})))
    assert text == EXPECTED
    # The same decision as the worker's, and its compact form for TicketRouted.
    assert decision.department == route(config, billing_mail(customer={"vip": True})).department
    assert decision.explanation() == {
        "outcome": "routed",
        "triggers": ["ticket_created"],
        "evaluated": 4,
        "matched": ["vip-first", "billing-mailbox"],
        "conditions": [
            "channel in ['email']",
            "source in ['email:billing@demo.example', 'email:invoices@demo.example']",
        ],
    }


def test_explain_a_drop() -> None:
    _, text = explain(load_config_file(DEMO_CONFIG), facts_for(billing_mail(automatic="bounce")))
    assert "1. drop-automatic-mail: MATCHED\n" in text
    assert "     -> drop: automatic mail needs no agent\nstopped after drop-automatic-mail" in text
    assert text.endswith(
        "outcome: unroutable: dropped by rule drop-automatic-mail: automatic mail needs no agent;"
        " 1 rule(s) evaluated, matched: drop-automatic-mail"
    )


def test_explain_a_queue_wait() -> None:
    facts = facts_for(billing_mail(), triggers=["queue_wait"], department="support", wait_s=900)
    _, text = explain(load_config_file(DEMO_CONFIG), facts)
    assert "ticket waits in support for 900 s" in text
    assert "held   wait_s gt 600   (actual: 900)" in text
    assert "-> escalate: support -> technical" in text
    assert "outcome: department technical by rule long-wait-escalates" in text


def test_compact_explanation_stays_small() -> None:
    from rules.engine import EXPLAIN_CONDITIONS, EXPLAIN_MATCHED

    rules = "".join(
        f"  - {{name: tag{i}, stop: false, actions: [{{add_tag: t{i}}}]}}\n" for i in range(50)
    )
    from schemas.config_file import parse_config_text

    config = parse_config_text(f"tenant: demo\ndepartments: [{{id: a}}]\nrules:\n{rules}", "t.yaml")
    compact = route(config, billing_mail()).explanation()
    assert len(compact["matched"]) == EXPLAIN_MATCHED
    assert compact["matched_total"] == 50
    assert len(orjson.dumps(compact)) < 600
    assert EXPLAIN_CONDITIONS == 10


# --- the command ------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["explain", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_command_with_a_canonical_event(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "event.json"
    path.write_bytes(encode(billing_mail(customer={"vip": True})))
    code, out, _ = run(capsys, "--event", str(path), "--config", str(DEMO_CONFIG))
    assert code == 0
    assert out == EXPECTED + "\n"


def test_command_with_a_bare_object_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = {
        "event_id": "chat:1",
        "tenant": "demo",
        "channel": "chat",
        "source": "chat:pricing",
        "conversation_id": "chat:1",
        "customer": {"id": "v1"},
        "received_at": OPEN,
    }
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(json.dumps(bare).encode())))
    code, out, _ = run(capsys, "--event", "-", "--config", str(DEMO_CONFIG))
    assert code == 0
    assert "4. sales-chat-button: MATCHED" in out  # billing-mailbox: skipped by the index
    assert out.rstrip().endswith("matched: sales-chat-button")


def test_command_clock_and_trigger_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "event.json"
    path.write_bytes(encode(billing_mail()))
    code, out, _ = run(
        capsys, "--event", str(path), "--config", str(DEMO_CONFIG), "--at", "2026-12-25T10:00+01:00"
    )
    assert code == 0
    assert "3. after-hours-tag: MATCHED" in out  # Christmas: a holiday of support
    assert "tags [after-hours]" in out
    code, out, _ = run(
        capsys,
        *("--event", str(path), "--config", str(DEMO_CONFIG)),
        *("--trigger", "queue_wait", "--department", "support", "--wait-s", "30"),
    )
    assert code == 0
    assert "outcome: stays in support (no rule moved it)" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{nope", "malformed_json"),
        (b'{"type": "TicketRouted"}', "unknown_type"),
        (b'{"event_id": "x"}', "missing_field"),
    ],
)
def test_command_refuses_bad_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    path = tmp_path / "event.json"
    path.write_bytes(content)
    code, out, err = run(capsys, "--event", str(path), "--config", str(DEMO_CONFIG))
    assert (code, out) == (2, "")
    assert message in err


def test_command_refuses_a_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "t.yaml"
    config.write_text("tenant: t\ndepartments: []\n", encoding="utf-8")
    code, _, err = run(capsys, "--event", "x.json", "--config", str(config))
    assert code == 2
    assert f"{config}:2: departments:" in err
