"""Databases as an older release left them, rows included: what a migration must carry over, row for row."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from alembic import command

from storage import make_engine
from storage.migrate import alembic_config
from storage.schema import UTCDateTime

# The two tables as revision 0001 made them: authors by `sub` alone.
MESSAGES_0001 = sa.table("messages", sa.column("id"), sa.column("text"), sa.column("author"),
                         sa.column("created_at", UTCDateTime), sa.column("updated_at", UTCDateTime),
                         sa.column("version"))
KEYS_0001 = sa.table("idempotency_keys", sa.column("author"), sa.column("key"), sa.column("fingerprint"),
                     sa.column("answer", sa.JSON), sa.column("created_at", UTCDateTime))


def database_of_0001(url: str, authors: list[str], keyed: int = 0) -> list[dict]:
    """Migrate ``url`` to revision 0001 only, then store one message by each of ``authors`` (the first
    ``keyed`` of them posted with Idempotency-Key ``key-<n>``), as that release did; the messages as its API
    showed them, oldest first."""
    engine = make_engine(url)
    posted_at = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    rows = [{"id": f"{n:032x}", "text": f"old message {n}", "author": author,
             "created_at": posted_at + timedelta(seconds=n), "updated_at": posted_at + timedelta(seconds=n),
             "version": 1} for n, author in enumerate(authors)]
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0001")
            if rows:
                connection.execute(sa.insert(MESSAGES_0001), rows)
            for n, row in enumerate(rows[:keyed]):
                answer = {**row, "created_at": row["created_at"].isoformat(),
                          "updated_at": row["updated_at"].isoformat()}
                connection.execute(sa.insert(KEYS_0001).values(
                    author=row["author"], key=f"key-{n}", fingerprint=hashlib.sha256(row["text"].encode()).hexdigest(),
                    answer=answer, created_at=row["created_at"]))
    finally:
        engine.dispose()
    return [{**row, "created_at": row["created_at"].isoformat(), "updated_at": row["updated_at"].isoformat()}
            for row in rows]
