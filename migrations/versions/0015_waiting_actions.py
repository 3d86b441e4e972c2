"""waiting actions kept across a shutdown

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27 05:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('waiting_actions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('chat_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('action', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_waiting_actions'))
    )
    with op.batch_alter_table('waiting_actions', schema=None) as batch_op:
        batch_op.create_index('ix_waiting_actions_platform', ['platform', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('waiting_actions', schema=None) as batch_op:
        batch_op.drop_index('ix_waiting_actions_platform')

    op.drop_table('waiting_actions')
