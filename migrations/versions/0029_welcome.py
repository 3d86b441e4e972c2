"""welcome: a community's own welcome and goodbye templates, and its last welcome's message

Revision ID: 0029
Revises: 0028
Create Date: 2026-11-27 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0029'
down_revision: str | None = '0028'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('welcomes',
    sa.Column('id', ID, nullable=False),
    sa.Column('community_id', ID, nullable=False),
    sa.Column('welcome_text', sa.String(length=2000), nullable=True),
    sa.Column('goodbye_text', sa.String(length=2000), nullable=True),
    sa.Column('channel_id', sa.String(length=64), nullable=True),
    sa.Column('message_id', sa.String(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_welcomes_community_id_communities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_welcomes')),
    sa.UniqueConstraint('community_id', name=op.f('uq_welcomes_community_id'))
    )


def downgrade() -> None:
    op.drop_table('welcomes')
