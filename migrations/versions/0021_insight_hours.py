"""insight hours: messages per community per local hour slot, for the heatmap

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


def upgrade() -> None:
    op.create_table('insight_hours',
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('hour', sa.SmallInteger(), nullable=False),
    sa.Column('messages', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_insight_hours_community_id_communities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('community_id', 'day', 'hour', name=op.f('pk_insight_hours'))
    )


def downgrade() -> None:
    op.drop_table('insight_hours')
