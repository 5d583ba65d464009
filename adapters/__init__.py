"""Channel adapters: raw channel payloads in, canonical ``InboundReceived`` events out.

Pure functions with one shape, ``(body: bytes, ctx: Context) -> Parsed | Rejected``;
they never raise and never touch Kafka, so gateways, the CLI and tests share them.
"""

from adapters.call import parse_call
from adapters.canonical import parse_canonical
from adapters.chat import parse_chat
from adapters.mail import parse_email
from adapters.meta import parse_instagram, parse_messenger
from adapters.registry import ADAPTERS, CHANNEL_OF, parse
from adapters.result import Adapter, AdapterError, Context, Parsed, Rejected, Result
from adapters.twitter import parse_twitter
from adapters.viber import parse_viber

__all__ = [
    "ADAPTERS",
    "CHANNEL_OF",
    "Adapter",
    "AdapterError",
    "Context",
    "Parsed",
    "Rejected",
    "Result",
    "parse",
    "parse_call",
    "parse_canonical",
    "parse_chat",
    "parse_email",
    "parse_instagram",
    "parse_messenger",
    "parse_twitter",
    "parse_viber",
]
