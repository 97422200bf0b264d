"""Webhook deliveries name their source, not only its type: ``source_type`` beside ``source``.

Until now ``webhook_deliveries.source`` held the source *type* (one endpoint per type); from now
on it holds the configured source's *name* (one endpoint per source) and ``source_type`` the type,
whose provider reads the delivery. Rows queued before are of a source named after its type, so
they get ``source_type = source``. Nullable, as SQLite adds a column no other way; the queue
always writes it, and a reader treats a null as the source's own name.

Revision ID: 0002_webhook_source_type
Revises: 0001_baseline
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_webhook_source_type"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("webhook_deliveries", sa.Column("source_type", sa.String(32), nullable=True))
    op.execute("UPDATE webhook_deliveries SET source_type = source WHERE source_type IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("source_type")
