"""Alembic's entry point. storage.migrate.migrate() hands it a connection already holding the lock,
inside a transaction of its own, so Alembic neither connects nor commits by itself."""

from alembic import context

from storage.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
