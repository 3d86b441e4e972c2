"""moments: lines the persona said once, the names members asked to be called, own holidays

Revision ID: 0037
Revises: 0036
Create Date: 2026-11-27 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _community(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["community_id"],
        ["communities.id"],
        name=op.f(f"fk_{table}_community_id_communities"),
        ondelete="CASCADE",
    )


def _member(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["member_id"],
        ["members.id"],
        name=op.f(f"fk_{table}_member_id_members"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "moments",
        sa.Column("id", _ID, nullable=False),
        sa.Column("community_id", _ID, nullable=False),
        sa.Column("member_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("occasion", sa.String(length=64), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("said_at", sa.DateTime(timezone=True), nullable=False),
        _community("moments"),
        _member("moments"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moments")),
        sa.UniqueConstraint(
            "community_id",
            "member_id",
            "kind",
            "occasion",
            name=op.f("uq_moments_community_id_member_id_kind_occasion"),
        ),
    )
    op.create_index(
        "ix_moments_community_day", "moments", ["community_id", "local_date"], unique=False
    )
    op.create_table(
        "call_names",
        sa.Column("id", _ID, nullable=False),
        sa.Column("community_id", _ID, nullable=False),
        sa.Column("member_id", _ID, nullable=False),
        sa.Column("name", sa.String(length=24), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        _community("call_names"),
        _member("call_names"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_names")),
        sa.UniqueConstraint("member_id", name=op.f("uq_call_names_member_id")),
    )
    op.create_table(
        "community_holidays",
        sa.Column("id", _ID, nullable=False),
        sa.Column("community_id", _ID, nullable=False),
        sa.Column("month", sa.SmallInteger(), nullable=False),
        sa.Column("day", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        _community("community_holidays"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_holidays")),
        sa.UniqueConstraint(
            "community_id",
            "month",
            "day",
            name=op.f("uq_community_holidays_community_id_month_day"),
        ),
    )


def downgrade() -> None:
    op.drop_table("community_holidays")
    op.drop_table("call_names")
    op.drop_index("ix_moments_community_day", table_name="moments")
    op.drop_table("moments")
