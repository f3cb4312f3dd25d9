"""The storage layer's two commands.

``python -m storage migrate [URL] [--issuer ISSUER]`` applies the migrations, exactly once. Without a URL it
migrates the database the app would use: DATABASE_URL (from the environment or the repository's ``.env``),
or the default SQLite file in the repository's ``instance/`` folder. ISSUER is the one whose tokens wrote the
rows stored before owners had an issuer (the app gives its first configured one), needed only when there
are such rows.
``python -m storage revision "what it changes"`` starts a new file in storage/migrations/versions/.
"""

from __future__ import annotations

import argparse
import os
import sys

from alembic import command
from dotenv import dotenv_values

from config import INSTANCE_PATH, ROOT

from .engine import SQLITE_FILE, default_url
from .errors import MigrationError
from .migrate import alembic_config, migrate


def default_database_url() -> str:
    """DATABASE_URL as the app reads it (the environment first, then ``.env``), else the app's default file."""
    return (os.environ.get("DATABASE_URL") or dotenv_values(ROOT / ".env").get("DATABASE_URL")
            or default_url(INSTANCE_PATH))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m storage", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    upgrade = commands.add_parser("migrate", help="apply the migrations, exactly once")
    upgrade.add_argument("url", nargs="?", help=f"default: DATABASE_URL, else instance/{SQLITE_FILE}")
    upgrade.add_argument("--issuer", help="the issuer of the rows stored before owners had one")
    revision = commands.add_parser("revision", help="start a new migration file")
    revision.add_argument("message")
    args = parser.parse_args(argv)

    if args.command == "revision":
        command.revision(alembic_config(), message=args.message)
        return 0
    try:
        changed = migrate(args.url or default_database_url(), args.issuer)
    except MigrationError as exc:
        print(exc, file=sys.stderr)
        return 1
    print("migrated" if changed else "already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
