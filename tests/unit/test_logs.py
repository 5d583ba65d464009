"""JSON log lines: the fields, the extras, redaction of customer data, and levels."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from streams.logs import setup_logging


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("deskroute").level)
    out = io.StringIO()
    yield out
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in saved[0]:
        root.addHandler(h)
    root.setLevel(saved[1])
    logging.getLogger("deskroute").setLevel(saved[2])
    for name in ("aiokafka", "faust", "mode", "kafka"):
        logging.getLogger(name).setLevel(logging.NOTSET)


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_one_json_object_per_line_with_the_extras(stream: io.StringIO) -> None:
    setup_logging("info", stream)
    log = logging.getLogger("deskroute.worker")
    log.info(
        "ticket assigned",
        extra={"ticket_id": "t-1", "department": "support", "agent_id": "ann", "ids": {"b", "a"}},
    )
    log.debug("not shown at info")
    (rec,) = lines(stream)
    assert rec["level"] == "info" and rec["logger"] == "deskroute.worker"
    assert rec["message"] == "ticket assigned"
    assert (rec["ticket_id"], rec["department"], rec["agent_id"]) == ("t-1", "support", "ann")
    assert rec["ids"] == ["a", "b"]  # sets become sorted lists, never a crash
    assert str(rec["time"]).endswith("Z")


def test_customer_data_is_redacted_at_info_and_kept_at_debug(stream: io.StringIO) -> None:
    setup_logging("debug", stream)
    log = logging.getLogger("deskroute.gateway")
    fields = {"text": "my card number", "customer": {"email": "ada@example.org"}, "tenant": "acme"}
    log.info("payload", extra=fields)
    log.debug("payload", extra=fields)
    info, debug = lines(stream)
    assert info["text"] == "[redacted]" and info["customer"] == "[redacted]"
    assert info["tenant"] == "acme"
    assert debug["text"] == "my card number"


def test_exceptions_and_third_party_loggers_share_the_format(stream: io.StringIO) -> None:
    setup_logging("info", stream)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("deskroute.x").exception("failed", extra={"partition": 3})
    logging.getLogger("aiokafka.consumer").info("chatty: hidden below warning")
    logging.getLogger("faust.worker").warning("rebalancing")
    failed, faust = lines(stream)
    assert "RuntimeError: boom" in str(failed["exception"]) and failed["partition"] == 3
    assert faust["logger"] == "faust.worker" and faust["level"] == "warning"


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError):
        setup_logging("loud")
