"""notes: saved replies (/save, /get, #NAME) and numbered auto-replies (/autoreply)

Revision ID: 0030
Revises: 0029
Create Date: 2026-11-27 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0030'
down_revision: str | None = '0029'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('notes',
    sa.Column('id', ID, nullable=False),
    sa.Column('community_id', ID, nullable=False),
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('text', sa.String(length=2000), nullable=False),
    sa.Column('admin_only', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('saved_by', ID, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_notes_community_id_communities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['saved_by'], ['members.id'], name=op.f('fk_notes_saved_by_members'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notes')),
    sa.UniqueConstraint('community_id', 'name', name=op.f('uq_notes_community_id_name'))
    )
    op.create_table('auto_replies',
    sa.Column('id', ID, nullable=False),
    sa.Column('community_id', ID, nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('trigger', sa.String(length=200), nullable=False),
    sa.Column('reply', sa.String(length=2000), nullable=False),
    sa.Column('created_by', ID, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_auto_replies_community_id_communities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['members.id'], name=op.f('fk_auto_replies_created_by_members'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auto_replies')),
    sa.UniqueConstraint('community_id', 'number', name=op.f('uq_auto_replies_community_id_number'))
    )
    with op.batch_alter_table('auto_replies', schema=None) as batch_op:
        batch_op.create_index('ix_auto_replies_community_removed', ['community_id', 'removed_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('auto_replies', schema=None) as batch_op:
        batch_op.drop_index('ix_auto_replies_community_removed')
    op.drop_table('auto_replies')
    op.drop_table('notes')
