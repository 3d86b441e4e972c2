"""Persistence: SQLAlchemy 2 (async) on SQLite by default or PostgreSQL; Alembic owns the schema."""

from storage.db import DEFAULT_URL, Database, normalize_url
from storage.store import Store

__all__ = ["DEFAULT_URL", "Database", "Store", "normalize_url"]
