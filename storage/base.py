"""What every table shares: the declarative ``Base`` (naming convention, UTC datetimes), the
key type and the column sizes several domains use.

Each domain module of ``storage`` holds its own tables beside its repository;
``storage.tables`` imports them all for Alembic. Our own keys are 64-bit integers; platform ids
are strings, never numbers; every time is UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Integer,
    MetaData,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

__all__ = [
    "NAME_LEN",
    "PLATFORM_ID_LEN",
    "PLATFORM_LEN",
    "REASON_LEN",
    "TITLE_LEN",
    "UPDATE_KEY_LEN",
    "Base",
    "Id",
    "UTCDateTime",
]

#: Column sizes shared by several domains; repositories clip user text to them before storage.
PLATFORM_LEN = 16
PLATFORM_ID_LEN = 64
NAME_LEN = 128
TITLE_LEN = 256
UPDATE_KEY_LEN = 128
REASON_LEN = 200

Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite only autoincrements INTEGER keys


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every dialect (SQLite forgets the zone; we restore it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use ctx.clock (UTC, aware)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """The one declarative base: one naming convention for constraints, so revisions name them
    the same on SQLite and PostgreSQL, and every ``datetime`` column stored as aware UTC."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }
