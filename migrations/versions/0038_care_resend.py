"""care resend: an alert's sending lease, so notices cut off by a stop are sent again

Revision ID: 0038
Revises: 0037
Create Date: 2026-11-27 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing rows keep no lease (NULL): delivered or not, nothing is sent again for them.
    op.add_column(
        "care_alerts", sa.Column("sending_until", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index("ix_care_alerts_sending_until", "care_alerts", ["sending_until"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_care_alerts_sending_until", table_name="care_alerts")
    with op.batch_alter_table("care_alerts") as batch:
        batch.drop_column("sending_until")
