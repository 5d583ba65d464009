"""Structured logs: one JSON object per line, for the workers and the gateway alike.

Log shippers (Fluent Bit, Vector, Promtail) parse a JSON line without a per-format
regex, and the ``extra={...}`` fields the code passes (ticket, department, agent,
partition, reason) become queryable fields instead of text to grep. Faust's,
mode's and aiokafka's records go through the same handler, so one process never
mixes two formats.

Customers' words and addresses must not end up in a log store with a longer
life and wider access than the tickets themselves: at info level and above,
fields that can hold them are replaced by ``"[redacted]"``; only DEBUG records
(written with ``DESKROUTE_LOG_LEVEL=debug``, on a developer's own machine) keep them.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import IO, Any

import orjson

#: Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)
#: Fields that can carry message bodies or customer addresses.
SENSITIVE = frozenset(
    {
        "text",
        "body",
        "subject",
        "html",
        "customer",
        "email",
        "address",
        "from",
        "to",
        "cc",
        "phone",
        "original_b64",
        "raw",
        "payload",
    }
)
#: Third-party loggers that are chatty at info level on every rebalance or fetch.
NOISY = ("aiokafka", "faust", "mode", "kafka")


def _default(value: Any) -> Any:
    """What orjson cannot encode: sets as sorted lists, anything else as its str()."""
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def record_fields(record: logging.LogRecord, redact: bool) -> dict[str, Any]:
    """The JSON object of one record: time, level, logger, message, then the extras."""
    out: dict[str, Any] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        + f".{int(record.msecs):03d}Z",
        "level": record.levelname.lower(),
        "logger": record.name,
        "message": record.getMessage(),
    }
    for key, value in vars(record).items():
        if key in _STANDARD or key.startswith("_") or key in out:
            continue
        out[key] = "[redacted]" if redact and key.lower() in SENSITIVE else value
    if record.exc_info and record.exc_info[0] is not None:
        out["exception"] = logging.Formatter().formatException(record.exc_info)
    if record.stack_info:
        out["stack"] = record.stack_info
    return out


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON; never raises on an odd ``extra`` value.

    Records at INFO and above have their sensitive fields redacted; DEBUG records
    keep them, and are only written when the operator asked for debug logs.
    """

    def format(self, record: logging.LogRecord) -> str:
        fields = record_fields(record, redact=record.levelno >= logging.INFO)
        return orjson.dumps(fields, default=_default).decode("utf-8")


def setup_logging(level: str, stream: IO[str] | None = None) -> logging.Handler:
    """Route every logger of the process through one JSON handler at ``level``.

    Faust, mode and aiokafka stay at WARNING unless ``level`` is debug: they
    build DEBUG and INFO records on the hot path, and routing logs what matters
    itself.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    logging.getLogger("deskroute").setLevel(numeric)
    for name in NOISY:
        logging.getLogger(name).setLevel(numeric if numeric <= logging.DEBUG else logging.WARNING)
    logging.captureWarnings(True)
    return handler
