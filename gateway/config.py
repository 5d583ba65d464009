"""The gateway's tenants and their channel secrets, from a YAML file.

Only the tenants listed here are served; a channel is enabled for a tenant by
giving its secret. Unknown keys are errors (a typo must not silently switch a
channel off), and no message or ``repr`` ever shows a secret's value::

    public_url: https://gateway.example.com   # optional: the base URL Twilio signs
    tenants:
      acme:
        api_token: "..."                      # Bearer token: email, chat, canonical
        mailboxes: [help@acme.example]        # optional: which recipient is "ours"
        facebook:  {app_secret: "...", verify_token: "..."}
        instagram: {app_secret: "...", verify_token: "..."}
        twitter:   {consumer_secret: "..."}
        viber:     {auth_token: "..."}
        twilio:    {auth_token: "..."}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

#: Per channel section: the keys it must have.
_SECTIONS: dict[str, tuple[str, ...]] = {
    "facebook": ("app_secret", "verify_token"),
    "instagram": ("app_secret", "verify_token"),
    "twitter": ("consumer_secret",),
    "viber": ("auth_token",),
    "twilio": ("auth_token",),
}


class GatewayConfigError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class TenantSecrets:
    tenant: str
    api_token: str = field(default="", repr=False)
    mailboxes: tuple[str, ...] = ()
    #: Channel section name -> its secrets (e.g. "facebook" -> app_secret, verify_token).
    channels: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    def secret(self, section: str, key: str) -> str:
        """The secret, or "" when the tenant has not enabled that channel."""
        return self.channels.get(section, {}).get(key, "")


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    tenants: dict[str, TenantSecrets]
    public_url: str = ""


def load_gateway_config(path: str | Path) -> GatewayConfig:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GatewayConfigError([f"{path}: cannot read: {exc}"]) from None
    return parse_gateway_config(text, str(path))


def parse_gateway_config(text: str, origin: str = "<gateway config>") -> GatewayConfig:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise GatewayConfigError([f"{origin}: not YAML: {exc}"]) from None
    problems: list[str] = []
    if not isinstance(doc, dict):
        raise GatewayConfigError([f"{origin}: expected a mapping with 'tenants'"])
    for key in sorted(set(doc) - {"tenants", "public_url"}):
        problems.append(f"{origin}: unknown key {key!r}")
    public_url = doc.get("public_url", "")
    if not isinstance(public_url, str) or (public_url and "://" not in public_url):
        problems.append(f"{origin}: public_url: expected an absolute URL")
        public_url = ""
    raw_tenants = doc.get("tenants")
    tenants: dict[str, TenantSecrets] = {}
    if not isinstance(raw_tenants, dict) or not raw_tenants:
        problems.append(f"{origin}: tenants: expected a non-empty mapping")
        raw_tenants = {}
    for name, body in raw_tenants.items():
        where = f"{origin}: tenants.{name}"
        if not isinstance(name, str) or not TENANT_NAME.match(name):
            problems.append(f"{where}: tenant names are letters, digits, '.', '_', '-'")
            continue
        tenant = _tenant(name, body, where, problems)
        if tenant is not None:
            tenants[name] = tenant
    if problems:
        raise GatewayConfigError(problems)
    return GatewayConfig(tenants, public_url.rstrip("/"))


def _tenant(name: str, body: Any, where: str, problems: list[str]) -> TenantSecrets | None:
    if not isinstance(body, dict):
        problems.append(f"{where}: expected a mapping")
        return None
    for key in sorted(set(body) - {"api_token", "mailboxes", *_SECTIONS}):
        problems.append(f"{where}: unknown key {key!r}")
    api_token = body.get("api_token", "")
    if not isinstance(api_token, str):
        problems.append(f"{where}.api_token: expected a string")
        api_token = ""
    mailboxes = body.get("mailboxes", [])
    if not isinstance(mailboxes, list) or not all(isinstance(m, str) for m in mailboxes):
        problems.append(f"{where}.mailboxes: expected a list of addresses")
        mailboxes = []
    channels: dict[str, dict[str, str]] = {}
    for section, keys in _SECTIONS.items():
        if section not in body:
            continue
        value = body[section]
        if not isinstance(value, dict):
            problems.append(f"{where}.{section}: expected a mapping")
            continue
        for key in sorted(set(value) - set(keys)):
            problems.append(f"{where}.{section}: unknown key {key!r}")
        secrets = {}
        for key in keys:
            secret = value.get(key)
            if not isinstance(secret, str) or not secret:
                problems.append(f"{where}.{section}.{key}: expected a non-empty string")
            else:
                secrets[key] = secret
        channels[section] = secrets
    return TenantSecrets(name, api_token, tuple(m.lower() for m in mailboxes), channels)
