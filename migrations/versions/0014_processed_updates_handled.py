"""processed_updates remember whether an update was handled, and its event until then

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 05:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op



revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('processed_updates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('event', sa.Text(), nullable=True))
        batch_op.create_index(
            'ix_processed_updates_platform_handled_at', ['platform', 'handled_at'], unique=False
        )
    # Updates recorded before this revision were handled the old way (at most once): none of
    # them is waiting to be handled again.
    op.execute('UPDATE processed_updates SET handled_at = processed_at')


def downgrade() -> None:
    with op.batch_alter_table('processed_updates', schema=None) as batch_op:
        batch_op.drop_index('ix_processed_updates_platform_handled_at')
        batch_op.drop_column('event')
        batch_op.drop_column('handled_at')
