"""an index on idempotency_keys.created_at

Revision ID: 0003
Revises: 0002
Create Date: 2026-02-01

Idempotency keys expire: each keyed create deletes a few of the oldest expired records, found through
this index rather than by reading the whole table.
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
