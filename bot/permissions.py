"""Roles and who may do what.

``owner`` comes from the config, ``admin`` from the platform (told by the adapter, per chat),
and the bot-level roles are granted in chat. Higher roles imply lower ones, so a command that
needs ``planner`` is open to moderators, admins and owners too.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

__all__ = ["GRANTABLE", "Role", "allowed", "effective", "owner_keys"]


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MODERATOR = "moderator"
    PLANNER = "planner"
    ANALYST = "analyst"
    EXPERT = "expert"
    #: Told privately when a member seems to be struggling (handlers/care); not implied by
    #: admin or moderator: who hears of members' distress is named on purpose.
    CARER = "carer"


#: Roles granted in chat with ``/role grant``; ``owner`` and ``admin`` are not grantable.
GRANTABLE: tuple[Role, ...] = (
    Role.MODERATOR,
    Role.PLANNER,
    Role.ANALYST,
    Role.EXPERT,
    Role.CARER,
)

_IMPLIES: dict[Role, frozenset[Role]] = {
    Role.OWNER: frozenset(Role),
    Role.ADMIN: frozenset({Role.ADMIN, Role.MODERATOR, Role.PLANNER, Role.ANALYST, Role.EXPERT}),
    Role.MODERATOR: frozenset({Role.MODERATOR, Role.PLANNER}),
}


def effective(held: Iterable[Role | str]) -> frozenset[Role]:
    """Every role ``held`` grants, implied ones included."""
    roles: set[Role] = set()
    for role in held:
        role = Role(role)
        roles |= _IMPLIES.get(role, {role})
    return frozenset(roles)


def allowed(held: Iterable[Role | str], required: Iterable[Role | str]) -> bool:
    """True when no role is required or the member holds (or implies) any required one."""
    needed = {Role(role) for role in required}
    return not needed or bool(effective(held) & needed)


def owner_keys(ids: Iterable[str]) -> frozenset[tuple[str, str]]:
    """``telegram:123`` -> ``("telegram", "123")``."""
    keys = set()
    for value in ids:
        platform, _, user_id = value.partition(":")
        keys.add((platform.strip().lower(), user_id.strip()))
    return frozenset(keys)
