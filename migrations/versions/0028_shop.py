"""shop: items for points and members' orders

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-27 15:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "shop_items",
        sa.Column("id", ID, nullable=False),
        sa.Column("community_id", ID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("name_key", sa.String(length=120), nullable=False),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("role_id", sa.String(length=64), nullable=True),
        sa.Column("stock", sa.Integer(), nullable=True),
        sa.Column("sold", sa.Integer(), nullable=False),
        sa.Column("per_member", sa.Integer(), nullable=True),
        sa.Column("per_period", sa.String(length=8), nullable=True),
        sa.Column("restock_amount", sa.Integer(), nullable=True),
        sa.Column("restock_period", sa.String(length=8), nullable=True),
        sa.Column("restocked_for", sa.Date(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requires", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_shop_items_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shop_items")),
        sa.UniqueConstraint(
            "community_id", "number", name=op.f("uq_shop_items_community_id_number")
        ),
    )
    op.create_table(
        "shop_orders",
        sa.Column("id", ID, nullable=False),
        sa.Column("community_id", ID, nullable=False),
        sa.Column("item_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("order_key", sa.String(length=128), nullable=False),
        sa.Column("slot_key", sa.String(length=128), nullable=True),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by_member_id", ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["closed_by_member_id"],
            ["members.id"],
            name=op.f("fk_shop_orders_closed_by_member_id_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_shop_orders_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["shop_items.id"],
            name=op.f("fk_shop_orders_item_id_shop_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_shop_orders_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shop_orders")),
        sa.UniqueConstraint("order_key", name=op.f("uq_shop_orders_order_key")),
        sa.UniqueConstraint("slot_key", name=op.f("uq_shop_orders_slot_key")),
    )
    with op.batch_alter_table("shop_orders", schema=None) as batch_op:
        batch_op.create_index("ix_shop_orders_member", ["member_id", "item_id"], unique=False)
        batch_op.create_index("ix_shop_orders_status", ["community_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("shop_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_shop_orders_status")
        batch_op.drop_index("ix_shop_orders_member")
    op.drop_table("shop_orders")
    op.drop_table("shop_items")
