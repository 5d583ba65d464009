"""The adapters by the name callers use (CLI channel, gateway route)."""

from __future__ import annotations

from adapters.call import parse_call
from adapters.canonical import parse_canonical
from adapters.chat import parse_chat
from adapters.mail import parse_email
from adapters.meta import parse_instagram, parse_messenger
from adapters.result import Adapter, Context, Rejected, Result
from adapters.twitter import parse_twitter
from adapters.viber import parse_viber

ADAPTERS: dict[str, Adapter] = {
    "email": parse_email,
    "facebook": parse_messenger,
    "instagram": parse_instagram,
    "twitter": parse_twitter,
    "viber": parse_viber,
    "chat": parse_chat,
    "call": parse_call,
    "canonical": parse_canonical,
}

#: The deskroute channel each adapter's events are on (canonical events name their own).
CHANNEL_OF = {
    "email": "email",
    "facebook": "social",
    "instagram": "social",
    "twitter": "social",
    "viber": "social",
    "chat": "chat",
    "call": "call",
    "canonical": "",
}


def parse(name: str, body: bytes, ctx: Context) -> Result:
    """Run the adapter called ``name``; an unknown name is a rejection too."""
    fn = ADAPTERS.get(name)
    if fn is None:
        return Rejected("unknown_adapter", f"{name!r}; known: {', '.join(ADAPTERS)}")
    return fn(body, ctx)
