"""The storage layer's two commands.

``python -m storage migrate [URL]`` applies the migrations (URL defaults to $DATABASE_URL), exactly once.
``python -m storage revision "what it changes"`` starts a new file in storage/migrations/versions/.
"""

from __future__ import annotations

import argparse
import os
import sys

from alembic import command

from .errors import MigrationError
from .migrate import alembic_config, migrate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m storage", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    upgrade = commands.add_parser("migrate", help="apply the migrations, exactly once")
    upgrade.add_argument("url", nargs="?", default=os.environ.get("DATABASE_URL"))
    revision = commands.add_parser("revision", help="start a new migration file")
    revision.add_argument("message")
    args = parser.parse_args(argv)

    if args.command == "revision":
        command.revision(alembic_config(), message=args.message)
        return 0
    if not args.url:
        parser.error("give a database URL or set DATABASE_URL")
    try:
        changed = migrate(args.url)
    except MigrationError as exc:
        print(exc, file=sys.stderr)
        return 1
    print("migrated" if changed else "already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
