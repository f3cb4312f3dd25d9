"""authors are an issuer and a subject

Revision ID: 0002
Revises: 0001
Create Date: 2026-02-01

OpenID Connect makes a `sub` unique within one issuer only, so a message's author, and the owner of an
idempotency key, become (`author_issuer`, `author`). Rows written before this revision are credited to
the issuer storage.migrate() is given (the app gives its first configured one); a database that holds
rows refuses to migrate without one, rather than guess.
"""

import sqlalchemy as sa
from alembic import context, op

from storage.errors import MigrationError

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("messages", "idempotency_keys")


def upgrade() -> None:
    issuer = context.config.attributes.get("issuer")
    for table in TABLES:
        op.add_column(table, sa.Column("author_issuer", sa.Text(), nullable=True))
    if issuer is None and _holds_rows():
        raise MigrationError("the stored messages need the issuer whose tokens wrote them: give migrate() an issuer "
                             "(python -m storage migrate --issuer URL)")
    for table in TABLES:
        op.execute(sa.text(f"UPDATE {table} SET author_issuer = :issuer").bindparams(issuer=issuer))
    with op.batch_alter_table("messages") as batch:
        batch.alter_column("author_issuer", existing_type=sa.Text(), nullable=False)
    op.create_index("ix_messages_author_issuer_created_at_id", "messages", ["author_issuer", "created_at", "id"])
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.alter_column("author_issuer", existing_type=sa.Text(), nullable=False)
        batch.drop_constraint("pk_idempotency_keys", type_="primary")
        batch.create_primary_key("pk_idempotency_keys", ["author", "author_issuer", "key"])


def downgrade() -> None:
    """Back to owners by `sub` alone; fails (on the primary key) if two issuers' users share a key."""
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_constraint("pk_idempotency_keys", type_="primary")
        batch.create_primary_key("pk_idempotency_keys", ["author", "key"])
        batch.drop_column("author_issuer")
    op.drop_index("ix_messages_author_issuer_created_at_id", "messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("author_issuer")


def _holds_rows() -> bool:
    exists = " OR ".join(f"EXISTS (SELECT 1 FROM {table})" for table in TABLES)
    return bool(op.get_bind().execute(sa.text(f"SELECT {exists}")).scalar())
