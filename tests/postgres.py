"""A real PostgreSQL server for the tests: Debian's ``postgresql`` package, initdb in a temp dir, a free port.

``initdb`` refuses to run as root, so as root (CI) the server runs as the ``postgres`` user in a directory it
owns. The server listens on 127.0.0.1 and on a unix socket in that directory, and is stopped at session end.
Without PostgreSQL installed the tests that need it skip, unless ``TRIAGE_REQUIRE_POSTGRES=1`` (CI) makes
that a failure.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest


def find_bin() -> Path | None:
    """The newest installed ``/usr/lib/postgresql/<v>/bin`` holding initdb, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    port: int
    user: str = "postgres"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def running_postgres(durable: bool = False) -> Iterator[PostgresServer]:
    """Start a throw-away server; ``durable=False`` turns fsync off (tests), True keeps it (benchmarks)."""
    bindir = find_bin()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); "
                                "`apt-get install postgresql`")
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    base = Path(tempfile.mkdtemp(prefix="triage-pg-"))
    data = base / "data"
    if as_root:
        shutil.chown(base, "postgres", "postgres")
    port = free_port()
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}  # the postgres user may not enter our cwd: cwd=base
    log = base / "server.log"
    try:
        subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                        "-E", "UTF8", "--no-sync"], check=True, capture_output=True, env=env, timeout=120, cwd=base)
        opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c max_connections=200"
        if not durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w",
                        "-t", "60", "start"], check=True, capture_output=True, env=env, timeout=90, cwd=base)
        try:
            yield PostgresServer(port)
        finally:
            subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                           capture_output=True, env=env, timeout=60, check=False, cwd=base)
    except subprocess.CalledProcessError as e:
        detail = (e.stderr or b"").decode(errors="replace")[-2000:]
        if log.exists():
            detail += log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"PostgreSQL did not start: {detail}") from e
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server (skipped if PostgreSQL is missing, unless TRIAGE_REQUIRE_POSTGRES=1)."""
    if find_bin() is None:
        msg = "PostgreSQL is not installed (apt-get install postgresql); the PostgreSQL half of the store tests"
        if os.environ.get("TRIAGE_REQUIRE_POSTGRES") == "1":
            pytest.fail(msg + " is required here (TRIAGE_REQUIRE_POSTGRES=1)")
        pytest.skip(msg + " is skipped")
    with running_postgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """A fresh, empty database: a SQLite file, then a database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'letters.db'}"
    return request.getfixturevalue("postgres_server").create_database()
