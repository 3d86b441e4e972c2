"""insights: room for in-place updates in the counted rows (PostgreSQL fillfactor 70)

Every flush adds to the same day's rows again and again. With full pages PostgreSQL writes
each updated row to another page and a new entry in every index; leaving 30% of each page free
lets it update in place (a HOT update: no index touched), which halves a flush's time
(measured: 500 rows 16 -> 8 ms). New pages follow at once; existing ones as they are rewritten.
SQLite has no such setting.

Revision ID: 0034
Revises: 0033
Create Date: 2026-11-27 17:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("insight_member_days", "insight_hours", "insight_movements")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = 70)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
