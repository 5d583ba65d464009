"""X (Twitter) Account Activity API webhooks: direct messages and tweets.

``for_user_id`` is the subscribed account (the help desk's own). Account
Activity delivers that account's outgoing messages and tweets too, so anything
it authored is skipped as ``own_message``; other activity (likes, follows,
typing indicators) is skipped as ``not_a_message``.
"""

from __future__ import annotations

from typing import Any

from adapters.fields import (
    MAX_TEXT_CHARS,
    clip,
    epoch_at,
    id_at,
    list_at,
    load_json_object,
    obj_at,
    str_at,
)
from adapters.result import AdapterError, Context, Rejected, Result, adapter, outcome
from schemas.events import Customer, InboundReceived

_MESSAGE_KEYS = ("direct_message_events", "tweet_create_events")


@adapter
def parse_twitter(body: bytes, ctx: Context) -> Result:
    """DMs (``x:dm`` ids) and mentions or replies (``x:tweet`` ids); source ``twitter:<account id>``."""
    payload = load_json_object(body)
    account = id_at(payload, "for_user_id", "$")
    found = payload.get("users")
    users: dict[str, Any] = found if isinstance(found, dict) else {}
    events: list[InboundReceived] = []
    skipped: list[Rejected] = []
    for i, item in enumerate(list_at(payload, "direct_message_events", "$")):
        try:
            events.append(
                _direct_message(item, f"$.direct_message_events[{i}]", account, users, ctx)
            )
        except AdapterError as exc:
            skipped.append(exc.rejected())
    for i, item in enumerate(list_at(payload, "tweet_create_events", "$")):
        try:
            events.append(_tweet(item, f"$.tweet_create_events[{i}]", account, ctx))
        except AdapterError as exc:
            skipped.append(exc.rejected())
    if not events and not skipped:
        others = sorted(k for k in payload if k.endswith("_events") and k not in _MESSAGE_KEYS)
        if not others:
            raise AdapterError(
                "no_events",
                f"no direct_message_events or tweet_create_events (top-level keys: "
                f"{', '.join(sorted(payload)[:10])})",
            )
        skipped.append(Rejected("not_a_message", f"$: {', '.join(others)}", True))
    return outcome(events, skipped, "direct messages or tweets")


def _direct_message(
    item: Any, path: str, account: str, users: dict[str, Any], ctx: Context
) -> InboundReceived:
    if not isinstance(item, dict):
        raise AdapterError("invalid_field", f"{path}: expected an object")
    kind = item.get("type")
    if kind != "message_create":
        raise AdapterError("not_a_message", f"{path}.type={kind!r}", ignored=True)
    dm_id = id_at(item, "id", path)
    create = obj_at(item, "message_create", path)
    cpath = f"{path}.message_create"
    sender = id_at(create, "sender_id", cpath)
    if sender == account:
        raise AdapterError("own_message", f"{path}: sent by the subscribed account", ignored=True)
    data = obj_at(create, "message_data", cpath)
    text, cut = clip(str_at(data, "text", f"{cpath}.message_data"), MAX_TEXT_CHARS)
    attributes: dict[str, Any] = {"platform": "twitter", "account_id": account, "kind": "dm"}
    if cut:
        attributes["text_truncated"] = True
    return InboundReceived(
        event_id=f"twitter:dm:{dm_id}",
        tenant=ctx.tenant,
        channel="social",
        source=f"twitter:{account}",
        conversation_id=f"twitter:dm:{account}:{sender}",
        customer=_customer(sender, users.get(sender), attributes),
        received_at=epoch_at(item, "created_timestamp", millis=True, default=ctx.now),
        text=text,
        attributes=attributes,
    )


def _tweet(item: Any, path: str, account: str, ctx: Context) -> InboundReceived:
    if not isinstance(item, dict):
        raise AdapterError("invalid_field", f"{path}: expected an object")
    tweet_id = id_at(item, "id_str", path, required=False) or id_at(item, "id", path)
    user = obj_at(item, "user", path)
    author = id_at(user, "id_str", f"{path}.user", required=False) or id_at(
        user, "id", f"{path}.user"
    )
    if author == account:
        raise AdapterError(
            "own_message", f"{path}: tweeted by the subscribed account", ignored=True
        )
    if isinstance(item.get("retweeted_status"), dict):
        raise AdapterError("retweet", f"{path}: a retweet, not a question", ignored=True)
    extended = item.get("extended_tweet")
    if isinstance(extended, dict) and isinstance(extended.get("full_text"), str):
        text = extended["full_text"]
    else:
        text = str_at(item, "full_text", path) or str_at(item, "text", path)
    text, cut = clip(text, MAX_TEXT_CHARS)
    parent = id_at(item, "in_reply_to_status_id_str", path, required=False)
    attributes: dict[str, Any] = {"platform": "twitter", "account_id": account, "kind": "tweet"}
    if parent:
        attributes["in_reply_to"] = parent
    if cut:
        attributes["text_truncated"] = True
    return InboundReceived(
        event_id=f"twitter:tweet:{tweet_id}",
        tenant=ctx.tenant,
        channel="social",
        source=f"twitter:{account}",
        # v1.1 payloads name only the parent, not the thread's root: a reply joins
        # the conversation of the tweet it answers.
        conversation_id=f"twitter:tweet:{parent or tweet_id}",
        customer=_customer(author, user, attributes),
        received_at=epoch_at(item, "timestamp_ms", millis=True, default=ctx.now),
        text=text,
        attributes=attributes,
    )


def _customer(user_id: str, profile: Any, attributes: dict[str, Any]) -> Customer:
    """The customer; their @handle goes to the attributes, where agents look for it."""
    profile = profile if isinstance(profile, dict) else {}
    handle, name = profile.get("screen_name"), profile.get("name")
    if isinstance(handle, str):
        attributes["screen_name"] = handle
    return Customer(f"twitter:{user_id}", name if isinstance(name, str) else "")
