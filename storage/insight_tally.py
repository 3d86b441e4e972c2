"""The insights tally's flush in one call on the event loop's own SQLite connection
(``storage.loop_writes``): the same upserts as ``InsightRepo.add_rows`` and
``InsightReports.add_hours``, without a session, its thread trips and its transaction.

A flush writes a row per member who spoke since the last one; counted as the inbound path's
cost (``bench.inbound --capture-cost``), the session's machinery was most of it: building a
flush's rows and statements costs about as much as SQLite's own work on them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError, OperationalError

from storage.db import Database
from storage.insight_reports import HOURS, HourCount, merged_hours
from storage.insights import (
    COUNTERS,
    DAYS,
    MOVEMENTS,
    Movement,
    merged_days,
    merged_movements,
    sqlite_upserts,
)
from storage.loop_writes import loop_writes

__all__ = ["write_on_loop"]


def write_on_loop(
    db: Database,
    days: list[tuple[Any, ...]],
    movements: Sequence[Movement],
    hours: Sequence[HourCount],
) -> bool:
    """Write a flush (``days`` as ``InsightRepo.add_rows`` takes them) in one transaction on
    the loop's own connection; ``False`` when that cannot be done at once (not SQLite in
    WAL mode, or another writer holds the lock): the caller writes through a session. A
    database error rolls back and is raised as SQLAlchemy's (``IntegrityError`` for a
    member or community deleted since it was counted)."""
    writes = loop_writes(db)
    if not writes.usable:
        return False
    statements = []
    for (table, columns, key), rows, added in (
        (DAYS, merged_days(days), COUNTERS),
        (MOVEMENTS, merged_movements(movements), ("n",)),
        (HOURS, merged_hours(hours), ("messages",)),
    ):
        statements += sqlite_upserts(table.name, columns, rows, key=key, added=added)

    def write(connection: sqlite3.Connection) -> None:
        for statement, params in statements:
            connection.execute(statement, params)

    try:
        done, _ = writes.run(write)
    except sqlite3.IntegrityError as error:
        raise IntegrityError("insights flush", None, error) from error
    except sqlite3.Error as error:
        raise OperationalError("insights flush", None, error) from error
    return done
