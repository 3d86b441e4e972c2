"""persona voice: a community's own persona texts, and the greetings measured

Revision ID: 0036
Revises: 0035
Create Date: 2026-11-27 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "persona_texts",
        sa.Column("community_id", _ID, nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("variants", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_persona_texts_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "locale", "key", name=op.f("pk_persona_texts")),
    )
    op.create_table(
        "persona_sends",
        sa.Column("id", _ID, nullable=False),
        sa.Column("community_id", _ID, nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("preset", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=True),
        sa.Column("member_id", _ID, nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("spoke_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_persona_sends_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_persona_sends_member_id_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persona_sends")),
    )
    op.create_index(
        "ix_persona_sends_message", "persona_sends", ["community_id", "message_id"], unique=False
    )
    op.create_index(
        "ix_persona_sends_sent", "persona_sends", ["community_id", "sent_at"], unique=False
    )
    op.create_index(
        "ix_persona_sends_recipient", "persona_sends", ["recipient", "message_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_persona_sends_recipient", table_name="persona_sends")
    op.drop_index("ix_persona_sends_sent", table_name="persona_sends")
    op.drop_index("ix_persona_sends_message", table_name="persona_sends")
    op.drop_table("persona_sends")
    op.drop_table("persona_texts")
