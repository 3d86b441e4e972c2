"""Alembic revisions for qunbot's schema (a package so an installed qunbot can find them)."""
