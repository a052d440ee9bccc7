"""Who may do what on the review desk: API-key entries ``role:name:key`` and the caller they identify.

Roles: ``desk`` (intake and review), ``viewer`` (read only), ``admin`` (everything: export, reload).
A bare ``key`` (no colons, as before the desk existed) is an admin key named ``admin``.
"""
from __future__ import annotations

from dataclasses import dataclass

ROLES = ("desk", "viewer", "admin")
#: What each role may do; the routes ask for an action, never for a role name.
CAN = {
    "read": ("desk", "viewer", "admin"),
    "write": ("desk", "admin"),      # intake, review
    "admin": ("admin",),             # export, reload
}


@dataclass(frozen=True)
class Caller:
    """The person (or system) behind a request."""

    name: str
    role: str


#: With no keys configured the desk is open and every caller is this one.
LOCAL = Caller("local", "admin")


def parse_key(entry: str) -> tuple[str, str, str]:
    """``(role, name, key)`` of a ``TRIAGE_API_KEYS`` entry; ValueError for a malformed ``role:name:key``."""
    if ":" not in entry:
        return "admin", "admin", entry
    parts = entry.split(":", 2)
    if len(parts) != 3 or parts[0] not in ROLES or not parts[1].strip():
        raise ValueError(f"an API key entry with a colon must read role:name:key, role one of {', '.join(ROLES)} "
                         "(the key itself has no colon; generate one with secrets.token_urlsafe)")
    return parts[0], parts[1].strip(), parts[2]
