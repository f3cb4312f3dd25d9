"""messages record who posted them for their author

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

A message posted with a delegated token (RFC 8693 §4.1: an ``act`` claim, an agent acting for the user)
names that actor beside its author. Messages posted before, and by their authors themselves, have none.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("actor", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("actor")
