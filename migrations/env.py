"""Alembic environment: runs on a connection handed in by ``storage.migrate``, or on its own
async engine when invoked as ``alembic upgrade head`` from a checkout."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from storage.db import DEFAULT_URL, Database
from storage.tables import UTCDateTime, metadata

config = context.config
target_metadata = metadata


def _render_item(kind: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render our UTC type as a plain timezone-aware DateTime, so revisions never import models."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_item=_render_item,
        render_as_batch=True,  # SQLite needs batch mode to alter tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or os.environ.get(
        "QUNBOT_STORAGE__URL", DEFAULT_URL
    )


async def _run_with_own_engine() -> None:
    db = Database(_url(), schema=os.environ.get("QUNBOT_STORAGE__SCHEMA", ""))
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(_configure_and_run)
    finally:
        await db.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    given = config.attributes.get("connection")
    if given is not None:
        _configure_and_run(given)
    else:
        asyncio.run(_run_with_own_engine())
