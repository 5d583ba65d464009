"""Reading untrusted JSON and form payloads into typed values, or a precise rejection.

Every helper names the offending path in its error, so a support engineer reading
``deskroute parse`` output sees which field of which item was wrong.
"""

from __future__ import annotations

import math
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from adapters.result import AdapterError
from schemas.codec import DecodeError, loads_object

#: Longest text and subject kept; longer values are cut and flagged, never refused.
MAX_TEXT_CHARS = 100_000
MAX_SUBJECT_CHARS = 1_000
#: Longest id accepted from a payload (characters).
MAX_ID_CHARS = 512

_SURROGATES = re.compile("[\ud800-\udfff]")


def load_json_object(body: bytes) -> dict[str, Any]:
    """Parse a JSON object, telling invalid UTF-8 apart from malformed JSON (the codec's rules)."""
    if not body.strip():
        raise AdapterError("empty", "the body is empty")
    try:
        return loads_object(body)
    except DecodeError as exc:
        raise AdapterError(exc.reason, exc.detail) from None


def load_form(body: bytes) -> dict[str, str]:
    """Parse ``application/x-www-form-urlencoded``; a repeated name keeps its last value."""
    if not body.strip():
        raise AdapterError("empty", "the body is empty")
    try:
        text = body.decode("utf-8")
        pairs = urllib.parse.parse_qsl(
            text.strip(), keep_blank_values=True, strict_parsing=True, errors="strict"
        )
    except UnicodeDecodeError as exc:
        raise AdapterError("invalid_utf8", f"byte {exc.start}: {exc.reason}") from None
    except ValueError as exc:
        raise AdapterError("malformed_form", str(exc)[:200]) from None
    return {k: v for k, v in pairs}


def obj_at(obj: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        raise AdapterError("missing_field", f"{path}.{key}")
    if not isinstance(value, dict):
        raise AdapterError("invalid_field", f"{path}.{key}: expected an object")
    return value


def list_at(obj: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise AdapterError("invalid_field", f"{path}.{key}: expected a list")
    return value


def id_at(obj: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> str:
    """An identifier that platforms send as a string or an integer."""
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise AdapterError("missing_field", f"{path}.{key}")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise AdapterError("invalid_field", f"{path}.{key}: expected a string or integer id")
    text = str(value)
    if len(text) > MAX_ID_CHARS or not text.isprintable():
        raise AdapterError("invalid_field", f"{path}.{key}: not a usable id")
    return text


def str_at(obj: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise AdapterError("missing_field", f"{path}.{key}")
        return ""
    if not isinstance(value, str):
        raise AdapterError("invalid_field", f"{path}.{key}: expected a string")
    return value


def epoch_at(obj: Mapping[str, Any], key: str, *, millis: bool, default: float) -> float:
    """A platform timestamp (number or numeric string); ``default`` when absent or absurd."""
    value = obj.get(key)
    if isinstance(value, bool):
        return default
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return default
    if not isinstance(value, int | float) or not math.isfinite(value):
        return default
    seconds = value / 1000.0 if millis else float(value)
    return seconds if 0 < seconds < 32_503_680_000 else default  # before year 3000


def clip(text: str, limit: int) -> tuple[str, bool]:
    """Cut ``text`` to ``limit`` characters; say whether it was cut."""
    return (text, False) if len(text) <= limit else (text[:limit], True)


def clean(text: str) -> str:
    """Valid Unicode only: undecodable bytes kept by the email parser become U+FFFD."""
    if _SURROGATES.search(text) is None:
        return text
    try:
        # Bytes the parser smuggled through as surrogate escapes are often UTF-8.
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text)
