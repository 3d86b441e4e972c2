"""insights: activity per member and local day, joins and leaves per day, opt-outs

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-27 11:12:06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('insight_movements',
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('how', sa.String(length=16), nullable=False),
    sa.Column('link', sa.String(length=128), nullable=False),
    sa.Column('n', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_insight_movements_community_id_communities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('community_id', 'day', 'direction', 'how', 'link', name=op.f('pk_insight_movements'))
    )
    op.create_table('insight_member_days',
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('messages', sa.Integer(), server_default='0', nullable=False),
    sa.Column('replies_given', sa.Integer(), server_default='0', nullable=False),
    sa.Column('replies_received', sa.Integer(), server_default='0', nullable=False),
    sa.Column('links', sa.Integer(), server_default='0', nullable=False),
    sa.Column('files', sa.Integer(), server_default='0', nullable=False),
    sa.Column('reactions', sa.Integer(), server_default='0', nullable=False),
    sa.Column('checkins', sa.Integer(), server_default='0', nullable=False),
    sa.Column('grabs', sa.Integer(), server_default='0', nullable=False),
    sa.Column('votes', sa.Integer(), server_default='0', nullable=False),
    sa.Column('rsvps', sa.Integer(), server_default='0', nullable=False),
    sa.Column('submissions', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_insight_member_days_community_id_communities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_insight_member_days_member_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('member_id', 'day', name=op.f('pk_insight_member_days'))
    )
    with op.batch_alter_table('insight_member_days', schema=None) as batch_op:
        batch_op.create_index('ix_insight_member_days_community_day', ['community_id', 'day'], unique=False)

    op.create_table('insight_opt_outs',
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_insight_opt_outs_member_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_insight_opt_outs'))
    )


def downgrade() -> None:
    op.drop_table('insight_opt_outs')
    with op.batch_alter_table('insight_member_days', schema=None) as batch_op:
        batch_op.drop_index('ix_insight_member_days_community_day')

    op.drop_table('insight_member_days')
    op.drop_table('insight_movements')
