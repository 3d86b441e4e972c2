"""insight capture: reactions received (reactions given are ``reactions``) and event check-ins
(/here) per member and local day

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-27 14:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('insight_member_days', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reactions_received', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('attendances', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('insight_member_days', schema=None) as batch_op:
        batch_op.drop_column('attendances')
        batch_op.drop_column('reactions_received')
