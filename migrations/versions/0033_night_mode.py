"""night mode: when a community's room closes and reopens, and whether the bot closed it

Revision ID: 0033
Revises: 0032
Create Date: 2026-11-27 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "night_modes",
        sa.Column("id", _ID, nullable=False),
        sa.Column("community_id", _ID, nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=True),
        sa.Column("starts", sa.String(length=5), nullable=True),
        sa.Column("ends", sa.String(length=5), nullable=True),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_night_modes_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_night_modes")),
        sa.UniqueConstraint("community_id", name=op.f("uq_night_modes_community_id")),
    )
    op.create_index("ix_night_modes_due", "night_modes", ["status", "due_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_night_modes_due", table_name="night_modes")
    op.drop_table("night_modes")
