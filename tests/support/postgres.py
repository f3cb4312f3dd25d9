"""A throwaway PostgreSQL server for the tests: Debian's binaries, a temporary cluster, a loopback port.

``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres`` user and every
server command runs through ``runuser``. The server listens on 127.0.0.1 only, keeps its socket in
its own directory, and trusts local connections (nothing else can reach it).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
from sqlalchemy import make_url

from tests.support.processes import free_port
from tests.support.tools import missing

MISSING = "PostgreSQL is missing: install Debian's package (apt-get install -y postgresql)"
DEBIAN_INITDB = "/usr/lib/postgresql/*/bin/initdb"  # Debian keeps the server binaries off PATH


def postgres_bin(pattern: str = DEBIAN_INITDB) -> Path:
    """The folder of initdb and pg_ctl (the newest Debian version, else PATH's); LookupError saying what is
    missing without them."""
    found = sorted(glob.glob(pattern), key=_major_version)
    initdb = found[-1] if found else shutil.which("initdb")
    if initdb is None:
        raise LookupError(MISSING)
    if os.geteuid() == 0 and not _user_exists("postgres"):
        raise LookupError("PostgreSQL's `postgres` user is missing (initdb refuses to run as root)")
    return Path(initdb).parent


def postgres_bin_or_skip(pattern: str = DEBIAN_INITDB) -> Path:
    """postgres_bin; without one, skip, except under CI=true where that is a failure."""
    try:
        return postgres_bin(pattern)
    except LookupError as problem:
        missing(str(problem))


@contextlib.contextmanager
def running_postgres():
    """A throwaway PostgreSQL server, started, and removed at the end (skipped without PostgreSQL, except under
    CI=true)."""
    server = PostgresServer(postgres_bin_or_skip()).init()
    try:
        server.start()
        yield server
    finally:
        server.remove()


class PostgresServer:
    """One cluster in a temporary directory; ``url(dbname)`` gives SQLAlchemy URLs for its databases."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="pg-test-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as_owner = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as_owner = ["runuser", "-u", "postgres", "--"]
        self._databases = 0

    def init(self) -> "PostgresServer":
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C",
                  "--no-sync")
        return self

    def start(self, durable: bool = False) -> None:
        """Listening on loopback; without fsync (the tests need no crash safety) unless ``durable``."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1" + ("" if durable else " -c fsync=off")
        self._run("pg_ctl", "-D", self.data, "-l", self.root / "server.log", "-o", options, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        try:
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        except AssertionError:
            pass  # already stopped
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh empty database; its URL."""
        self._databases += 1
        name = f"test_{self._databases}"
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def empty(self, url: str, tables: list[str]) -> None:
        """Delete every row of ``tables`` in the database at ``url`` (a migrated database is then as good as a new
        copy, for a fraction of what CREATE DATABASE costs); a connection still holding a lock on them makes
        this fail rather than wait."""
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=make_url(url).database,
                             autocommit=True) as connection:
            connection.execute("SET lock_timeout = '10s'")
            connection.execute(f"TRUNCATE {', '.join(tables)}")

    def _run(self, program: str, *args) -> None:
        command = [*self._as_owner, str(self.bindir / program), *map(str, args)]
        result = subprocess.run(command, cwd=self.root, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{program} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"


def _major_version(path: str) -> int:
    return int(Path(path).parent.parent.name) if Path(path).parent.parent.name.isdigit() else 0


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True

