"""scheduled lifts: timed unbans get their own table, out of the entry-gate challenges

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-27 11:30:00

Until 0018 a timed ban's unban was a gate challenge of kind ``unban`` (pending, acting,
passed). They move here: pending and acting as pending (a process stopped while acting; an
unban is harmless twice), passed as done. The downgrade puts back one row per member (the
gate table keeps one per member and kind): the pending one, else the newest.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('scheduled_lifts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_scheduled_lifts_community_id_communities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_scheduled_lifts_member_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduled_lifts'))
    )
    with op.batch_alter_table('scheduled_lifts', schema=None) as batch_op:
        batch_op.create_index('ix_scheduled_lifts_due', ['status', 'due_at'], unique=False)
        batch_op.create_index('uq_scheduled_lifts_pending', ['community_id', 'member_id', 'kind'], unique=True, postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))

    op.execute(
        "INSERT INTO scheduled_lifts (community_id, member_id, kind, status, due_at, created_at) "
        "SELECT community_id, member_id, 'unban', "
        "CASE WHEN status IN ('pending', 'acting') THEN 'pending' ELSE 'done' END, "
        "expires_at, created_at FROM gate_challenges WHERE kind = 'unban' ORDER BY id"
    )
    op.execute("DELETE FROM gate_challenges WHERE kind = 'unban'")


def downgrade() -> None:
    op.execute(
        "INSERT INTO gate_challenges "
        "(community_id, member_id, kind, status, message_id, created_at, expires_at) "
        "SELECT community_id, member_id, 'unban', "
        "CASE status WHEN 'pending' THEN 'pending' WHEN 'acting' THEN 'acting' "
        "ELSE 'passed' END, NULL, created_at, due_at FROM ("
        "SELECT *, ROW_NUMBER() OVER (PARTITION BY community_id, member_id "
        "ORDER BY CASE WHEN status = 'pending' THEN 0 ELSE 1 END, id DESC) AS place "
        "FROM scheduled_lifts WHERE kind = 'unban') AS lifts WHERE place = 1"
    )
    with op.batch_alter_table('scheduled_lifts', schema=None) as batch_op:
        batch_op.drop_index('uq_scheduled_lifts_pending', postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
        batch_op.drop_index('ix_scheduled_lifts_due')

    op.drop_table('scheduled_lifts')
