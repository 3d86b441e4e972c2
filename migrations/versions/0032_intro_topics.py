"""intro: newcomers' introductions, topics of the day and who took part

Revision ID: 0032
Revises: 0031
Create Date: 2026-11-27 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0032'
down_revision: str | None = '0031'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('introductions',
    sa.Column('id', ID, nullable=False),
    sa.Column('community_id', ID, nullable=False),
    sa.Column('member_id', ID, nullable=False),
    sa.Column('chat_id', sa.String(length=64), nullable=False),
    sa.Column('channel_id', sa.String(length=64), nullable=True),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_introductions_community_id_communities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_introductions_member_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_introductions')),
    sa.UniqueConstraint('member_id', name=op.f('uq_introductions_member_id'))
    )
    op.create_table('topics',
    sa.Column('id', ID, nullable=False),
    sa.Column('community_id', ID, nullable=False),
    sa.Column('text', sa.String(length=200), nullable=False),
    sa.Column('hashtag', sa.String(length=32), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('set_by', ID, nullable=True),
    sa.Column('participants', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_topics_community_id_communities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['set_by'], ['members.id'], name=op.f('fk_topics_set_by_members'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_topics'))
    )
    with op.batch_alter_table('topics', schema=None) as batch_op:
        batch_op.create_index('ix_topics_community_created', ['community_id', 'created_at'], unique=False)
    op.create_table('topic_participants',
    sa.Column('id', ID, nullable=False),
    sa.Column('topic_id', ID, nullable=False),
    sa.Column('member_id', ID, nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_topic_participants_member_id_members'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['topic_id'], ['topics.id'], name=op.f('fk_topic_participants_topic_id_topics'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_topic_participants')),
    sa.UniqueConstraint('topic_id', 'member_id', name=op.f('uq_topic_participants_topic_id_member_id'))
    )


def downgrade() -> None:
    op.drop_table('topic_participants')
    with op.batch_alter_table('topics', schema=None) as batch_op:
        batch_op.drop_index('ix_topics_community_created')
    op.drop_table('topics')
    op.drop_table('introductions')
