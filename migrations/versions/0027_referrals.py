"""referrals: members' own invite links and the joins through them

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-27 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "referral_links",
        sa.Column("id", ID, nullable=False),
        sa.Column("community_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("url", sa.String(length=256), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_referral_links_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_referral_links_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_links")),
        sa.UniqueConstraint(
            "community_id", "member_id", name=op.f("uq_referral_links_community_id_member_id")
        ),
    )
    with op.batch_alter_table("referral_links", schema=None) as batch_op:
        batch_op.create_index(
            "ix_referral_links_community_url", ["community_id", "url"], unique=False
        )
        batch_op.create_index(
            "ix_referral_links_community_name", ["community_id", "name"], unique=False
        )

    op.create_table(
        "referrals",
        sa.Column("id", ID, nullable=False),
        sa.Column("community_id", ID, nullable=False),
        sa.Column("link_id", ID, nullable=True),
        sa.Column("inviter_member_id", ID, nullable=True),
        sa.Column("newcomer_member_id", ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=True),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("inviter_points", sa.Integer(), nullable=False),
        sa.Column("newcomer_points", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_referrals_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["referral_links.id"],
            name=op.f("fk_referrals_link_id_referral_links"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["inviter_member_id"],
            ["members.id"],
            name=op.f("fk_referrals_inviter_member_id_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["newcomer_member_id"],
            ["members.id"],
            name=op.f("fk_referrals_newcomer_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
        sa.UniqueConstraint(
            "community_id",
            "newcomer_member_id",
            name=op.f("uq_referrals_community_id_newcomer_member_id"),
        ),
    )
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.create_index("ix_referrals_due", ["status", "due_at"], unique=False)
        batch_op.create_index("ix_referrals_inviter", ["inviter_member_id", "status"], unique=False)
        batch_op.create_index("ix_referrals_link", ["link_id", "joined_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_index("ix_referrals_link")
        batch_op.drop_index("ix_referrals_inviter")
        batch_op.drop_index("ix_referrals_due")
    op.drop_table("referrals")
    with op.batch_alter_table("referral_links", schema=None) as batch_op:
        batch_op.drop_index("ix_referral_links_community_name")
        batch_op.drop_index("ix_referral_links_community_url")
    op.drop_table("referral_links")
