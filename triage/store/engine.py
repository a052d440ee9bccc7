"""Database connections and schema revisions: one code path for a SQLite file and for PostgreSQL.

SQLite runs in WAL mode (readers never block the writer) with a busy timeout, foreign keys on and
``synchronous=FULL`` (a committed letter survives a crash of the process or the machine). Write transactions
start with ``BEGIN IMMEDIATE`` so two writers queue on the busy timeout instead of failing half-way.
Alembic is imported only to create or upgrade a schema, never to open an up-to-date one.
"""
from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import StaticPool

from ..errors import TriageError
from .schema import HEAD_REVISION

DEFAULT_URL = "sqlite:///triage.db"
#: Milliseconds a SQLite writer waits for another to finish before giving up.
SQLITE_BUSY_MS = 30_000
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class StoreError(TriageError):
    """The database cannot be used as it is (wrong schema revision, bad URL)."""


def database_url(url: str | None = None) -> str:
    """``url``, else ``$TRIAGE_DB_URL``, else ``sqlite:///triage.db`` in the working directory."""
    return url or os.environ.get("TRIAGE_DB_URL") or DEFAULT_URL


def engine_url(url: str) -> URL:
    """The SQLAlchemy URL, with ``postgresql://`` (and ``postgres://``) mapped to the psycopg 3 driver."""
    try:
        u = make_url(url)
    except Exception as e:
        raise StoreError(f"Not a database URL: {safe_url(url)!r}. Use sqlite:///path.db or "
                         "postgresql://user@host/dbname.") from e
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    if not (u.drivername.startswith("sqlite") or u.drivername.startswith("postgresql")):
        raise StoreError(f"Unsupported database {u.drivername!r}; use sqlite:///path.db or postgresql://...")
    return u


def safe_url(url: str | URL) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "<unparseable URL>"


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the store's connection settings; errors never show the SQL's parameters."""
    u = engine_url(url)
    if u.get_backend_name() != "sqlite":
        return create_engine(u, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=True)
    memory = not u.database or u.database == ":memory:"
    if not memory:
        Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(u, connect_args={"isolation_level": None, "timeout": SQLITE_BUSY_MS / 1000,
                                            "check_same_thread": False},
                           poolclass=StaticPool if memory else None,  # in memory: one connection, or no database
                           hide_parameters=True)  # a database error must never print a letter into a log

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:
        cur = dbapi_conn.cursor()
        for pragma in ("journal_mode=WAL", f"busy_timeout={SQLITE_BUSY_MS}", "foreign_keys=ON", "synchronous=FULL"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:  # the driver is in autocommit mode: SQLAlchemy's transactions are ours to start
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")

    return engine


def current_revision(engine: Engine) -> str | None:
    """The schema revision stamped in the database, or None for a database without the store's tables."""
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except OperationalError as e:
        reason = str(e.orig).strip().splitlines()[0] if e.orig else type(e).__name__
        raise StoreError(f"Cannot open the database {safe_url(engine.url)}: {reason}. Check the URL, that the "
                         "server runs and accepts this user, or that the file's folder is writable.") from e


def _alembic_config(engine: Engine, connection=None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate the database to ``revision``; returns (revision before, revision after)."""
    from alembic import command

    before = current_revision(engine)
    with engine.connect().execution_options(write=True) as conn:
        command.upgrade(_alembic_config(engine, conn), revision)
        conn.commit()
    return before, current_revision(engine)


def head_revision() -> str:
    """The newest migration, read from the migration scripts (for tests: it must equal ``HEAD_REVISION``)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def ensure_schema(engine: Engine) -> None:
    """Create a fresh database at the newest revision; refuse one at another revision (it needs an upgrade)."""
    rev = current_revision(engine)
    if rev == HEAD_REVISION:
        return
    if rev is None:
        with engine.connect() as conn:
            if inspect(conn).has_table("letters"):
                raise StoreError(f"{safe_url(engine.url)} has a letters table but no schema revision; "
                                 "it was not made by triage. Use another database.")
        try:
            upgrade(engine)
        except Exception:
            if current_revision(engine) != HEAD_REVISION:
                raise
        return
    raise StoreError(f"The database {safe_url(engine.url)} is at schema revision {rev}; this triage needs "
                     f"{HEAD_REVISION}. Run `triage db upgrade --db URL` (back the database up first).")
