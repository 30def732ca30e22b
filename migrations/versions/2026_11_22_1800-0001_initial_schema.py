"""Initial schema: journey definitions, customers, runs, deliveries and the audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", TIMESTAMP, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, server_default=sa.func.now(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "journey_definitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("workflow_type", sa.String(200), nullable=False),
        sa.Column("trigger_event", sa.String(200), nullable=False),
        sa.Column("exit_events", JSON, nullable=False),
        sa.Column("listens_to", JSON, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_journey_definitions"),
        sa.UniqueConstraint("key", "version", name="uq_journey_definitions_key_version"),
    )
    op.create_index("ix_journey_definitions_key", "journey_definitions", ["key"])

    op.create_table(
        "customers",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("traits", JSON, nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
    )

    op.create_table(
        "journey_runs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("workflow_id", sa.String(500), nullable=False),
        sa.Column("journey_key", sa.String(200), nullable=False),
        sa.Column("journey_version", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("trigger_event", sa.String(200), nullable=False),
        sa.Column("trigger_message_id", sa.String(200), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("ended_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_journey_runs"),
    )
    op.create_index("ix_journey_runs_workflow_id", "journey_runs", ["workflow_id"])
    op.create_index("ix_journey_runs_journey_key", "journey_runs", ["journey_key"])
    op.create_index("ix_journey_runs_customer_id", "journey_runs", ["customer_id", "started_at"])

    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("step", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(50), nullable=False),
        sa.Column("provider", sa.String(50), nullable=False),
        sa.Column("template", sa.String(200), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("provider_message_id", sa.String(200), nullable=True),
        sa.Column("requested_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["journey_runs.id"],
            name="fk_deliveries_run_id_journey_runs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.UniqueConstraint("run_id", "step", name="uq_deliveries_run_id_step"),
    )
    op.create_index("ix_deliveries_customer_id", "deliveries", ["customer_id"])

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("journey_key", sa.String(200), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("step", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["journey_runs.id"],
            name="fk_audit_events_run_id_journey_runs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
        sa.UniqueConstraint("run_id", "seq", name="uq_audit_events_run_id_seq"),
    )
    op.create_index("ix_audit_events_customer_id", "audit_events", ["customer_id", "occurred_at"])


def downgrade() -> None:
    op.drop_table("audit_events")
    op.drop_table("deliveries")
    op.drop_table("journey_runs")
    op.drop_table("customers")
    op.drop_table("journey_definitions")
