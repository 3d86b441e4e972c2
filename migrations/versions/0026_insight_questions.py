"""insight capture: questions asked, answers given and feedback filed per member and local day
(they were counted as submissions to calls, which they are not)

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-27 15:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0026'
down_revision: str | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('insight_member_days', schema=None) as batch_op:
        batch_op.add_column(sa.Column('questions', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('answers', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('feedback', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('insight_member_days', schema=None) as batch_op:
        batch_op.drop_column('feedback')
        batch_op.drop_column('answers')
        batch_op.drop_column('questions')
