"""``triage db``: the review desk's database - ``upgrade`` (migrate), ``current`` (revision), ``purge`` (retention)."""
from __future__ import annotations

import argparse
import os


def add_db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL", default=None,
                   help="database URL (default $TRIAGE_DB_URL, else sqlite:///triage.db in the working directory)")


def add_parser(sub) -> None:
    p = sub.add_parser("db", help="the review desk's database: upgrade its schema, show its revision, purge old texts")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = dsub.add_parser("upgrade", help="migrate the database to the newest schema (creates it if new)")
    add_db_arg(up)
    up.set_defaults(run=run_upgrade)
    cur = dsub.add_parser("current", help="show the database's schema revision and the newest one")
    add_db_arg(cur)
    cur.set_defaults(run=run_current)
    pu = dsub.add_parser("purge", help="erase the texts of letters older than the retention period (audited)")
    add_db_arg(pu)
    pu.add_argument("--days", type=int, default=None, help="retention in days (default $TRIAGE_RETENTION_DAYS)")
    pu.set_defaults(run=run_purge)


def run_upgrade(args: argparse.Namespace) -> int:
    from ..store.engine import database_url, make_engine, safe_url, upgrade

    url = database_url(args.db)
    engine = make_engine(url)
    try:
        before, after = upgrade(engine)
    finally:
        engine.dispose()
    print(f"{safe_url(url)}: {before or 'empty'} -> {after}" if before != after else f"{safe_url(url)}: at {after}")
    return 0


def run_current(args: argparse.Namespace) -> int:
    from ..store.engine import (
        current_revision,
        database_url,
        head_revision,
        make_engine,
        safe_url,
    )

    url = database_url(args.db)
    engine = make_engine(url)
    try:
        rev = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    state = "up to date" if rev == head else ("empty: run `triage db upgrade`" if rev is None else
                                              "behind: run `triage db upgrade`")
    print(f"{safe_url(url)}: revision {rev or '-'} (newest {head}; {state})")
    return 0


def run_purge(args: argparse.Namespace) -> int:
    from ..store import open_store

    days = args.days if args.days is not None else (int(os.environ["TRIAGE_RETENTION_DAYS"])
                                                    if os.environ.get("TRIAGE_RETENTION_DAYS") else None)
    if days is None:
        print("error: no retention period: pass --days N or set TRIAGE_RETENTION_DAYS.")
        return 2
    store = open_store(args.db)
    try:
        n = store.purge(days, by="triage db purge")
    finally:
        store.close()
    print(f"purged the texts of {n} letters received more than {days} days ago")
    return 0
