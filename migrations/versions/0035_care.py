"""care: mood counts per community and member day, alerts to carers, cooldowns, opt-outs

Revision ID: 0035
Revises: 0034
Create Date: 2026-11-27 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _member_fk(table: str, column: str = "member_id", ondelete: str = "CASCADE") -> sa.Constraint:
    return sa.ForeignKeyConstraint(
        [column], ["members.id"], name=op.f(f"fk_{table}_{column}_members"), ondelete=ondelete
    )


def _community_fk(table: str) -> sa.Constraint:
    return sa.ForeignKeyConstraint(
        ["community_id"],
        ["communities.id"],
        name=op.f(f"fk_{table}_community_id_communities"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "care_days",
        sa.Column("community_id", _ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("scored", sa.Integer(), server_default="0", nullable=False),
        sa.Column("negative", sa.Integer(), server_default="0", nullable=False),
        _community_fk("care_days"),
        sa.PrimaryKeyConstraint("community_id", "day", name=op.f("pk_care_days")),
    )
    op.create_table(
        "care_member_days",
        sa.Column("member_id", _ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("community_id", _ID, nullable=False),
        sa.Column("scored", sa.Integer(), server_default="0", nullable=False),
        sa.Column("negative", sa.Integer(), server_default="0", nullable=False),
        _community_fk("care_member_days"),
        _member_fk("care_member_days"),
        sa.PrimaryKeyConstraint("member_id", "day", name=op.f("pk_care_member_days")),
    )
    op.create_index(
        "ix_care_member_days_community_day",
        "care_member_days",
        ["community_id", "day"],
        unique=False,
    )
    op.create_table(
        "care_opt_outs",
        sa.Column("member_id", _ID, nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        _member_fk("care_opt_outs"),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_care_opt_outs")),
    )
    op.create_table(
        "care_cooldowns",
        sa.Column("member_id", _ID, nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        _member_fk("care_cooldowns"),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_care_cooldowns")),
    )
    op.create_table(
        "care_alerts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("community_id", _ID, nullable=False),
        sa.Column("member_id", _ID, nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("delivered", sa.SmallInteger(), nullable=True),
        sa.Column("resources_sent", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_by_member_id", _ID, nullable=True),
        _community_fk("care_alerts"),
        _member_fk("care_alerts"),
        _member_fk("care_alerts", "settled_by_member_id", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_alerts")),
    )
    op.create_index(
        "ix_care_alerts_community_status",
        "care_alerts",
        ["community_id", "status"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_care_alerts_community_status", table_name="care_alerts")
    op.drop_table("care_alerts")
    op.drop_table("care_cooldowns")
    op.drop_table("care_opt_outs")
    op.drop_index("ix_care_member_days_community_day", table_name="care_member_days")
    op.drop_table("care_member_days")
    op.drop_table("care_days")
