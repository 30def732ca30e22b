"""Compliance: consent per channel and subscription group, the suppression list, and the category
(marketing or transactional) of each delivery, which frequency caps count.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 21:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("source_id", sa.String(200), nullable=True),
        sa.Column("changed_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_consents"),
        sa.UniqueConstraint(
            "customer_id", "kind", "name", name="uq_consents_customer_id_kind_name"
        ),
    )
    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(50), nullable=False),
        sa.Column("address_hash", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(30), nullable=False),
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("source_id", sa.String(200), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_suppressions"),
        sa.UniqueConstraint(
            "channel",
            "address_hash",
            "reason",
            name="uq_suppressions_channel_address_hash_reason",
        ),
    )
    # Rows from before compliance were journey sends, whose default category is marketing.
    with op.batch_alter_table("deliveries") as table:
        table.add_column(
            sa.Column(
                "category", sa.String(20), nullable=False, server_default=sa.text("'marketing'")
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as table:
        table.drop_column("category")
    op.drop_table("suppressions")
    op.drop_table("consents")
