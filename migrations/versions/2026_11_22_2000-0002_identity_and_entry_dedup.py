"""Identity (customer aliases, indexed addresses), entry dedup per trigger, inactivity triggers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("customers") as table:
        table.add_column(sa.Column("email", sa.String(320), nullable=True))
        table.add_column(sa.Column("phone", sa.String(50), nullable=True))
        table.add_column(sa.Column("timezone", sa.String(64), nullable=True))
        table.create_index("ix_customers_email", ["email"])
        table.create_index("ix_customers_phone", ["phone"])

    op.create_table(
        "customer_aliases",
        sa.Column("alias_id", sa.String(200), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("alias_id", name="pk_customer_aliases"),
    )
    op.create_index("ix_customer_aliases_customer_id", "customer_aliases", ["customer_id"])

    with op.batch_alter_table("journey_runs") as table:
        table.create_unique_constraint(
            "uq_journey_runs_journey_key_customer_id_trigger_message_id",
            ["journey_key", "customer_id", "trigger_message_id"],
        )

    with op.batch_alter_table("deliveries") as table:
        table.create_index("ix_deliveries_provider_message_id", ["provider_message_id"])

    with op.batch_alter_table("journey_definitions") as table:
        table.add_column(sa.Column("inactivity_seconds", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("journey_definitions") as table:
        table.drop_column("inactivity_seconds")
    with op.batch_alter_table("deliveries") as table:
        table.drop_index("ix_deliveries_provider_message_id")
    with op.batch_alter_table("journey_runs") as table:
        table.drop_constraint(
            "uq_journey_runs_journey_key_customer_id_trigger_message_id", type_="unique"
        )
    op.drop_index("ix_customer_aliases_customer_id", table_name="customer_aliases")
    op.drop_table("customer_aliases")
    with op.batch_alter_table("customers") as table:
        table.drop_index("ix_customers_phone")
        table.drop_index("ix_customers_email")
        table.drop_column("timezone")
        table.drop_column("phone")
        table.drop_column("email")
