"""``triage review``: work with the review desk's corrections.

Sub-commands: ``export`` (here) and any module named in ``EXTRA`` that exists - each defines
``add_parser(review_subparsers)`` and sets its own ``run``. To add ``triage review suggest``, create
``triage/cli/review_suggest.py``; nothing here needs to change.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from .db import add_db_arg

#: Optional sub-command modules of this package, loaded when present (the hook for new sub-commands).
EXTRA = ("review_suggest",)


def add_parser(sub) -> None:
    p = sub.add_parser("review", help="the review desk's corrections: export them for training")
    rsub = p.add_subparsers(dest="review_command", metavar="ACTION", required=True)
    ex = rsub.add_parser("export", help="write reviewed letters with their final labels as a training CSV")
    ex.add_argument("-o", "--out", type=Path, required=True, help="CSV to write (text,category,unit,... columns)")
    ex.add_argument("--since", default=None, help="only letters reviewed at or after this ISO date/time")
    add_db_arg(ex)
    ex.set_defaults(run=run_export)
    for name in EXTRA:
        try:
            module = importlib.import_module(f".{name}", __package__)
        except ModuleNotFoundError as e:
            if e.name != f"{__package__}.{name}":
                raise
            continue
        module.add_parser(rsub)


def run_export(args: argparse.Namespace) -> int:
    import datetime as dt

    from ..store import open_store
    from ..store.export import write_corrections

    since = None
    if args.since:
        since = dt.datetime.fromisoformat(args.since)
        since = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
    store = open_store(args.db)
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(args.out.name + ".part")
        with tmp.open("w", encoding="utf-8", newline="") as f:
            written, skipped = write_corrections(store.reviewed(since), f)
        tmp.replace(args.out)  # never a half-written file under the real name
    finally:
        store.close()
    note = f" ({skipped} left out: text purged by retention)" if skipped else ""
    print(f"wrote {written} reviewed letters to {args.out}{note}", file=sys.stderr)
    return 0
