"""``deskroute parse``: events as JSON and exit 0, or the reason and exit 2, for any input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.cli import CHANNELS, payloads, run_parse
from tests.support import ROOT

CORPUS = ROOT.parent / "shared" / "corpus"


def test_parse_prints_the_event(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chat = tmp_path / "chat.json"
    chat.write_text(
        json.dumps(
            {"type": "chat_started", "chat_id": "c1", "visitor": {"id": "v"}, "button": "pricing"}
        )
    )
    assert run_parse("chat", str(chat), [], "acme") == 0
    event = json.loads(capsys.readouterr().out)
    assert (event["type"], event["event_id"], event["tenant"], event["source"]) == (
        "InboundReceived",
        "chat:c1",
        "acme",
        "chat:pricing",
    )


def test_parse_header_option_reaches_the_adapter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mail = tmp_path / "m.eml"
    mail.write_bytes(b"From: a@b.example\r\nTo: x@y.example\r\n\r\nhi")
    assert run_parse("email", str(mail), ["X-Envelope-To: Help@Acme.example"], "acme") == 0
    assert json.loads(capsys.readouterr().out)["source"] == "email:help@acme.example"
    assert run_parse("email", str(mail), ["no-colon"], "acme") == 2


def test_parse_rejection_and_unreadable_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{nope")
    assert run_parse("viber", str(bad), [], "acme") == 2
    assert capsys.readouterr().out.startswith("rejected: malformed_json: ")
    assert run_parse("viber", str(tmp_path / "missing.json"), [], "acme") == 2
    assert "cannot read" in capsys.readouterr().err


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(channel=st.sampled_from(CHANNELS), raw=st.binary(max_size=500))
def test_parse_never_fails_otherwise(tmp_path: Path, channel: str, raw: bytes) -> None:
    f = tmp_path / "payload"
    f.write_bytes(raw)
    assert run_parse(channel, str(f), [], "acme") in (0, 2)


def test_command_line_exit_codes(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"\xff\xfe garbage")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "streams.cli", "parse", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    result = run("twitter", str(junk))
    assert result.returncode == 2 and result.stdout.startswith("rejected: invalid_utf8")
    assert "Traceback" not in result.stderr
    if CORPUS.is_dir():
        result = run(
            "viber", str(CORPUS / "webhooks" / "viber_message_unicode.json"), "--tenant", "acme"
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["event_id"] == "viber:4912661846655238145"


def test_publish_inputs(tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(b"From: a@b\r\n\r\nx")
    (tmp_path / "notes.txt").write_text("not mail")
    assert [label for label, _ in payloads("email", tmp_path)] == [str(tmp_path / "a.eml")]
    lines = tmp_path / "lines.jsonl"
    lines.write_text('{"a": 1}\n\n{"b": 2}\n')
    assert [body for _, body in payloads("viber", lines)] == [b'{"a": 1}', b'{"b": 2}']
