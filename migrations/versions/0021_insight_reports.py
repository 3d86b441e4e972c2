"""insight reports: messages per local hour slot (the heatmap), and the rollups reports read
(active-day bits per member per 60 days, a community's day, how far they are folded)

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-27 11:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('insight_hours',
    sa.Column('community_id', ID, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('hour', sa.SmallInteger(), nullable=False),
    sa.Column('messages', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_insight_hours_community_id_communities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('community_id', 'day', 'hour', name=op.f('pk_insight_hours'))
    )
    op.create_table('insight_member_bits',
    sa.Column('member_id', ID, nullable=False),
    sa.Column('block', sa.Integer(), nullable=False),
    sa.Column('community_id', ID, nullable=False),
    sa.Column('active', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('checked', sa.BigInteger(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_insight_member_bits_community_id_communities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_insight_member_bits_member_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('member_id', 'block', name=op.f('pk_insight_member_bits'))
    )
    with op.batch_alter_table('insight_member_bits', schema=None) as batch_op:
        batch_op.create_index('ix_insight_member_bits_community_block', ['community_id', 'block'], unique=False)
    op.create_table('insight_community_days',
    sa.Column('community_id', ID, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('active', sa.Integer(), server_default='0', nullable=False),
    sa.Column('messages', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_insight_community_days_community_id_communities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('community_id', 'day', name=op.f('pk_insight_community_days'))
    )
    op.create_table('insight_folds',
    sa.Column('community_id', ID, nullable=False),
    sa.Column('through', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_insight_folds_community_id_communities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('community_id', name=op.f('pk_insight_folds'))
    )


def downgrade() -> None:
    op.drop_table('insight_folds')
    op.drop_table('insight_community_days')
    with op.batch_alter_table('insight_member_bits', schema=None) as batch_op:
        batch_op.drop_index('ix_insight_member_bits_community_block')
    op.drop_table('insight_member_bits')
    op.drop_table('insight_hours')
