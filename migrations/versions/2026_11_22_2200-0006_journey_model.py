"""The journey model: versioned documents, journey states (pause, drafts, entry counts),
holdout and entry key on runs, and conversions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("journey_definitions") as table:
        table.add_column(sa.Column("document", JSON, nullable=True))
        table.add_column(sa.Column("published_at", TIMESTAMP, nullable=True))
    op.create_table(
        "journey_states",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("draft", JSON, nullable=True),
        sa.Column("draft_updated_at", TIMESTAMP, nullable=True),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_journey_states"),
    )
    # Every journey known so far is active (paused and archived did not exist) and has entered
    # as many customers as it has runs.
    op.execute(
        "INSERT INTO journey_states (key, kind, status, entries) "
        "SELECT d.key, MIN(d.kind), 'active', "
        "(SELECT COUNT(*) FROM journey_runs r WHERE r.journey_key = d.key) "
        "FROM journey_definitions d GROUP BY d.key"
    )
    with op.batch_alter_table("journey_runs") as table:
        table.add_column(
            sa.Column("holdout", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        table.add_column(sa.Column("entry_key", sa.String(200), nullable=True))
    op.create_table(
        "conversions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("journey_key", sa.String(200), nullable=False),
        sa.Column("journey_version", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("holdout", sa.Boolean(), nullable=False),
        sa.Column("event", sa.String(200), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("revenue", sa.Double(), nullable=True),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["journey_runs.id"],
            name="fk_conversions_run_id_journey_runs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_conversions"),
        sa.UniqueConstraint("run_id", name="uq_conversions_run_id"),
    )
    op.create_index("ix_conversions_journey_key", "conversions", ["journey_key", "journey_version"])
    op.create_index("ix_conversions_customer_id", "conversions", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_conversions_customer_id", "conversions")
    op.drop_index("ix_conversions_journey_key", "conversions")
    op.drop_table("conversions")
    with op.batch_alter_table("journey_runs") as table:
        table.drop_column("entry_key")
        table.drop_column("holdout")
    op.drop_table("journey_states")
    with op.batch_alter_table("journey_definitions") as table:
        table.drop_column("published_at")
        table.drop_column("document")
