"""``triage report``: an HTML summary (tables and charts) of a file labelled by ``triage batch``."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..report import write_report


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="HTML report of a labelled file: counts by category and unit, trend, review share")
    p.add_argument("labelled", metavar="OUTPUT", help="a file written by `triage batch`")
    p.add_argument("-o", "--output", metavar="HTML", default=None, help="report file (default: OUTPUT's name + .report.html)")
    p.add_argument("--date-col", default=None, help="date column for the monthly trend (default: the first of date, submitted_at, ...)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    src = Path(args.labelled)
    out = Path(args.output) if args.output else src.with_name(src.name + ".report.html")
    tally = write_report(src, out, date_col=args.date_col)
    print(f"report of {tally.rows:,} rows ({tally.errors:,} errors, {tally.needs_review:,} needing review) → {out}")
    return 0
