"""``triage report``: an HTML summary (tables and charts, in Chinese) of a file labelled by ``triage batch``."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..report import review_figures, write_report


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="HTML report of a labelled file: counts by category and unit, trend, review share")
    p.add_argument("labelled", metavar="OUTPUT", help="a file written by `triage batch`")
    p.add_argument("-o", "--output", metavar="HTML", default=None, help="report file (default: OUTPUT's name + .report.html)")
    p.add_argument("--date-col", default=None, help="date column for the monthly trend (default: the first of date, submitted_at, ...)")
    p.add_argument("--db", metavar="URL", default=None,
                   help="letter store whose review figures to add (reviewed, corrected, overdue); default $TRIAGE_DB_URL, "
                        "none without it")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    src = Path(args.labelled)
    out = Path(args.output) if args.output else src.with_name(src.name + ".report.html")
    url = args.db or os.environ.get("TRIAGE_DB_URL")
    review = None
    if url:
        from ..store import open_store

        store = open_store(url)
        try:
            review = review_figures(store)
        finally:
            store.close()
    tally = write_report(src, out, date_col=args.date_col, review=review)
    print(f"report of {tally.rows:,} rows ({tally.errors:,} errors, {tally.needs_review:,} needing review"
          + (f"; {review['reviewed']:,} reviewed in the store" if review else "") + f") → {out}")
    return 0
