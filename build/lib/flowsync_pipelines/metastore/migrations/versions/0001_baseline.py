"""Baseline: the metadata store as ``create_all`` made it before migrations.

Creates each table (and its indexes) only where it is missing, so a store made by an older
FlowSync is adopted as it is, and a new one gets everything.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from flowsync_pipelines.metastore.baseline import BASELINE

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    BASELINE.create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    BASELINE.drop_all(op.get_bind(), checkfirst=True)
