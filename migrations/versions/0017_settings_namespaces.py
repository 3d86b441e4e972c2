"""per-community settings in one namespace per config section

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-27 09:40:00

Communities' raw setting keys move into the namespace of the section they override, which
``ctx.settings_of`` reads: ``gate`` -> ``gates.mode``, ``log_chat`` -> ``community.log_chat``,
``locks`` -> ``rules.locks``, ``flood`` ``[m, s]`` -> ``rules.flood_messages`` and
``rules.flood_seconds``. ``polls`` and ``redpacket`` already were namespaces. The downgrade
moves them back.
"""

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op


revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

communities = sa.table('communities', sa.column('id', sa.Integer), sa.column('settings', sa.JSON))

#: Raw key -> (section, key in the section).
MOVED = {'gate': ('gates', 'mode'), 'log_chat': ('community', 'log_chat'), 'locks': ('rules', 'locks')}


def _namespaced(settings: dict[str, Any]) -> dict[str, Any]:
    moved = dict(settings)
    for raw, (section, key) in MOVED.items():
        if raw in moved:
            moved[section] = {**(moved.get(section) or {}), key: moved.pop(raw)}
    flood = moved.pop('flood', None)
    if flood:
        messages, seconds = flood
        rules = moved.get('rules') or {}
        moved['rules'] = {**rules, 'flood_messages': int(messages), 'flood_seconds': int(seconds)}
    return moved


def _raw(settings: dict[str, Any]) -> dict[str, Any]:
    moved = {name: dict(value) if isinstance(value, dict) else value for name, value in settings.items()}
    for raw, (section, key) in MOVED.items():
        namespace = moved.get(section)
        if isinstance(namespace, dict) and key in namespace:
            moved[raw] = namespace.pop(key)
    rules = moved.get('rules')
    if isinstance(rules, dict) and 'flood_messages' in rules and 'flood_seconds' in rules:
        moved['flood'] = [rules.pop('flood_messages'), rules.pop('flood_seconds')]
    for section in ('gates', 'community', 'rules'):
        if moved.get(section) == {}:
            del moved[section]
    return moved


def _rewrite(change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    bind = op.get_bind()
    for row_id, settings in bind.execute(sa.select(communities.c.id, communities.c.settings)).all():
        if not settings:
            continue
        changed = change(dict(settings))
        if changed != settings:
            bind.execute(
                communities.update().where(communities.c.id == row_id).values(settings=changed)
            )


def upgrade() -> None:
    _rewrite(_namespaced)


def downgrade() -> None:
    _rewrite(_raw)
