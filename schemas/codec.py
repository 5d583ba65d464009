"""orjson codec for the event records, with a typed, never-crashing decoder.

Decoding checks every field against the record's annotations, so a record that
does not fit fails here with a reason a dead-letter consumer can act on, rather
than deep inside a stage as an ``AttributeError``.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar, get_args, get_origin

import orjson

from schemas import dead_letters, events, tenant_config

#: Records larger than this are refused before parsing (bytes).
MAX_RECORD_BYTES = 1 << 20
#: Longest free-text field accepted (characters); longer values are refused, not cut.
MAX_TEXT_CHARS = 200_000
#: Fields allowed to be longer: a dead letter's copy of the record it refused
#: (base64 of up to 700,000 bytes, :mod:`schemas.dead_letters`).
LONG_TEXT_CHARS = {"EventDeadLettered.original_b64": dead_letters.KEEP_B64_CHARS}

T = TypeVar("T")

RECORD_TYPES: dict[str, type[Any]] = {
    cls.TYPE: cls
    for cls in (
        events.InboundReceived,
        events.AgentPresenceChanged,
        events.AgentCapacityChanged,
        events.WorkFinished,
        events.OfferAccepted,
        events.OfferDeclined,
        events.TicketTaken,
        events.ClockTicked,
        events.TicketRouted,
        events.TicketOffered,
        events.OfferMissed,
        events.OfferWithdrawn,
        events.TicketEscalated,
        events.TicketAssigned,
        events.TicketQueued,
        events.TicketUnroutable,
        events.EventDeadLettered,
        tenant_config.TenantConfig,
    )
}


class DecodeError(ValueError):
    """A record that does not fit its schema.

    ``reason`` is a short stable label (used as a metric label and in dead
    letters); ``detail`` names the offending field for a person.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def encode(record: Any) -> bytes:
    """Serialise a record with its ``type`` and schema version ``v`` first."""
    body = {"type": record.TYPE, "v": record.VERSION}
    body.update(_asdict(record))
    return orjson.dumps(body)


def _asdict(record: Any) -> dict[str, Any]:
    # dataclasses.asdict deep-copies; a shallow walk is enough and much cheaper.
    out: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        out[f.name] = _asdict(value) if dataclasses.is_dataclass(value) else value
    return out


def loads_object(raw: bytes) -> dict[str, Any]:
    """Parse bytes into a JSON object, classifying what is wrong with bad input."""
    if len(raw) > MAX_RECORD_BYTES:
        raise DecodeError("oversize", f"{len(raw)} bytes > limit {MAX_RECORD_BYTES}")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as uexc:
            raise DecodeError("invalid_utf8", f"byte {uexc.start}: {uexc.reason}") from None
        raise DecodeError("malformed_json", str(exc)) from None
    if not isinstance(obj, dict):
        raise DecodeError("not_an_object", f"top level is {type(obj).__name__}")
    return obj


def decode(raw: bytes) -> Any:
    """Decode any known record; the ``type`` field selects the class."""
    obj = loads_object(raw)
    kind = obj.get("type")
    cls = RECORD_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise DecodeError("unknown_type", f"type={kind!r}")
    return from_mapping(cls, obj)


def decode_as(cls: type[T], raw: bytes) -> T:
    """Decode bytes that must hold one record class (or a union of classes)."""
    allowed = get_args(cls) or (cls,)
    obj = loads_object(raw)
    kind = obj.get("type")
    for option in allowed:
        if kind == option.TYPE:
            return typing.cast(T, from_mapping(option, obj))
    names = ", ".join(o.TYPE for o in allowed)
    raise DecodeError("unknown_type", f"type={kind!r}, expected {names}")


def from_mapping(cls: type[T], obj: Mapping[str, Any]) -> T:
    """Build a record from a parsed JSON object, checking version and field types."""
    version = obj.get("v", cls.VERSION)  # type: ignore[attr-defined]
    if type(version) is not int or version != cls.VERSION:  # type: ignore[attr-defined]
        raise DecodeError(
            "unsupported_version",
            f"{cls.__name__} v={version!r}, this reader knows v={cls.VERSION}",  # type: ignore[attr-defined]
        )
    return builder_for(cls)(obj, cls.__name__)


_BUILDERS: dict[type[Any], Callable[[Any, str], Any]] = {}


def builder_for(cls: type[T]) -> Callable[[Any, str], T]:
    built = _BUILDERS.get(cls)
    if built is None:
        built = _make_builder(cls)
        _BUILDERS[cls] = built
    return built


def _make_builder(cls: type[Any]) -> Callable[[Any, str], Any]:
    hints = typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))
    specs: list[tuple[str, Callable[[Any, str], Any], bool]] = []
    for f in dataclasses.fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        specs.append((f.name, _checker(hints[f.name]), required))

    def build(obj: Any, path: str) -> Any:
        if not isinstance(obj, dict):
            raise DecodeError("invalid_field", f"{path}: expected an object")
        kwargs: dict[str, Any] = {}
        for name, check, required in specs:
            if name in obj:
                kwargs[name] = check(obj[name], f"{path}.{name}")
            elif required:
                raise DecodeError("missing_field", f"{path}.{name}")
        try:
            return cls(**kwargs)
        except ValueError as exc:  # raised by a record's own __post_init__ checks
            raise DecodeError("invalid_field", f"{path}.{exc}") from None

    return build


def _checker(tp: Any) -> Callable[[Any, str], Any]:
    origin = get_origin(tp)
    if tp is Any:
        return lambda v, _p: v
    if tp is str:
        return _check_str
    if tp is bool:
        return _check_type(bool, "a boolean")
    if tp is int:
        return _check_int
    if tp is float:
        return _check_float
    if dataclasses.is_dataclass(tp):
        return builder_for(typing.cast(type[Any], tp))
    if origin is Literal:
        allowed = get_args(tp)

        def check_literal(v: Any, p: str) -> Any:
            if v not in allowed:
                raise DecodeError("invalid_field", f"{p}: {v!r} not one of {list(allowed)}")
            return v

        return check_literal
    if origin is dict:
        _kt, vt = get_args(tp)
        inner = _checker(vt)

        def check_dict(v: Any, p: str) -> Any:
            if not isinstance(v, dict):
                raise DecodeError("invalid_field", f"{p}: expected an object")
            return {k: inner(x, f"{p}.{k}") for k, x in v.items()}

        return check_dict
    if origin is tuple:
        item = _checker(get_args(tp)[0])

        def check_seq(v: Any, p: str) -> Any:
            if not isinstance(v, list | tuple):
                raise DecodeError("invalid_field", f"{p}: expected a list")
            return tuple(item(x, f"{p}[{i}]") for i, x in enumerate(v))

        return check_seq
    if origin in (types.UnionType, typing.Union):
        options = [_checker(a) for a in get_args(tp)]

        def check_union(v: Any, p: str) -> Any:
            for option in options:
                try:
                    return option(v, p)
                except DecodeError:
                    continue
            raise DecodeError("invalid_field", f"{p}: {v!r} fits none of {tp}")

        return check_union
    if tp is type(None):
        return _check_type(type(None), "null")
    raise TypeError(f"no decoder for {tp!r}")  # a programming error, found at import


def _check_str(v: Any, p: str) -> str:
    if not isinstance(v, str):
        raise DecodeError("invalid_field", f"{p}: expected a string, got {type(v).__name__}")
    if len(v) > MAX_TEXT_CHARS:
        limit = LONG_TEXT_CHARS.get(p, MAX_TEXT_CHARS)
        if len(v) > limit:
            raise DecodeError("oversize", f"{p}: {len(v)} characters > limit {limit}")
    return v


def _check_int(v: Any, p: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise DecodeError("invalid_field", f"{p}: expected an integer, got {type(v).__name__}")
    return v


def _check_float(v: Any, p: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise DecodeError("invalid_field", f"{p}: expected a number, got {type(v).__name__}")
    return float(v)


def _check_type(tp: type[Any], label: str) -> Callable[[Any, str], Any]:
    def check(v: Any, p: str) -> Any:
        if not isinstance(v, tp):
            raise DecodeError("invalid_field", f"{p}: expected {label}, got {type(v).__name__}")
        return v

    return check


# Build every decoder now so that a type the codec cannot handle fails at import.
for _cls in RECORD_TYPES.values():
    builder_for(_cls)
