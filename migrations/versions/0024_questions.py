"""questions: /ask, answers, routing waves, expert topics

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-27 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('expert_topics',
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('topics', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_expert_topics_member_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_expert_topics'))
    )
    op.create_table('questions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('asker_member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('channel_id', sa.String(length=64), nullable=True),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('create_key', sa.String(length=192), nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=True),
    sa.Column('asked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_answer_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by_member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('accepted_answer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('faq_number', sa.Integer(), nullable=True),
    sa.Column('taken_by_member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['asker_member_id'], ['members.id'], name=op.f('fk_questions_asker_member_id_members'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['closed_by_member_id'], ['members.id'], name=op.f('fk_questions_closed_by_member_id_members'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_questions_community_id_communities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['taken_by_member_id'], ['members.id'], name=op.f('fk_questions_taken_by_member_id_members'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_questions')),
    sa.UniqueConstraint('community_id', 'number', name=op.f('uq_questions_community_id_number')),
    sa.UniqueConstraint('create_key', name=op.f('uq_questions_create_key'))
    )
    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.create_index('ix_questions_open', ['community_id', 'status', 'asked_at'], unique=False)

    op.create_table('question_answers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('question_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('answerer_member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('text', sa.String(length=1000), nullable=False),
    sa.Column('create_key', sa.String(length=192), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['answerer_member_id'], ['members.id'], name=op.f('fk_question_answers_answerer_member_id_members'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['question_id'], ['questions.id'], name=op.f('fk_question_answers_question_id_questions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_question_answers')),
    sa.UniqueConstraint('create_key', name=op.f('uq_question_answers_create_key')),
    sa.UniqueConstraint('question_id', 'number', name=op.f('uq_question_answers_question_id_number'))
    )
    with op.batch_alter_table('question_answers', schema=None) as batch_op:
        batch_op.create_index('ix_question_answers_answerer', ['answerer_member_id'], unique=False)

    op.create_table('question_notices',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('question_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('wave', sa.SmallInteger(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_question_notices_member_id_members'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['question_id'], ['questions.id'], name=op.f('fk_question_notices_question_id_questions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_question_notices')),
    sa.UniqueConstraint('question_id', 'member_id', name=op.f('uq_question_notices_question_id_member_id'))
    )
    op.create_table('question_routes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('question_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('wave', sa.SmallInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['question_id'], ['questions.id'], name=op.f('fk_question_routes_question_id_questions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_question_routes')),
    sa.UniqueConstraint('question_id', 'wave', name=op.f('uq_question_routes_question_id_wave'))
    )
    with op.batch_alter_table('question_routes', schema=None) as batch_op:
        batch_op.create_index('ix_question_routes_due', ['status', 'due_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('question_routes', schema=None) as batch_op:
        batch_op.drop_index('ix_question_routes_due')

    op.drop_table('question_routes')
    op.drop_table('question_notices')
    with op.batch_alter_table('question_answers', schema=None) as batch_op:
        batch_op.drop_index('ix_question_answers_answerer')

    op.drop_table('question_answers')
    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.drop_index('ix_questions_open')

    op.drop_table('questions')
    op.drop_table('expert_topics')
