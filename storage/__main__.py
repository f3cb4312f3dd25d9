"""The storage layer's two commands.

``python -m storage migrate [URL] [--issuer ISSUER]`` applies the migrations (URL defaults to $DATABASE_URL),
exactly once; ISSUER is the one whose tokens wrote the messages stored before authors had an issuer (the
app gives its first configured one), needed only when there are such messages.
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
    upgrade.add_argument("--issuer", help="the issuer of the messages stored before authors had one")
    revision = commands.add_parser("revision", help="start a new migration file")
    revision.add_argument("message")
    args = parser.parse_args(argv)

    if args.command == "revision":
        command.revision(alembic_config(), message=args.message)
        return 0
    if not args.url:
        parser.error("give a database URL or set DATABASE_URL")
    try:
        changed = migrate(args.url, args.issuer)
    except MigrationError as exc:
        print(exc, file=sys.stderr)
        return 1
    print("migrated" if changed else "already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
