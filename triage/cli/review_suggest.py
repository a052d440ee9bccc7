"""``triage review suggest``: the letters of a file whose labels would teach the model most, for a labelling session."""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

from .. import load_model
from ..io import atomic_output, read_table
from ..suggest import COLUMNS, suggest
from ._common import add_model_arg


def add_parser(review_sub) -> None:
    """Add ``suggest`` to the sub-commands of ``triage review``."""
    p = review_sub.add_parser(
        "suggest", help="pick the letters to label next: least certain first, spread over categories, no near-duplicates")
    p.add_argument("input", metavar="INPUT", help="CSV/XLSX/JSONL/Parquet file of letters")
    p.add_argument("-n", type=int, default=200, help="how many letters to pick (default: 200)")
    p.add_argument("-o", "--output", metavar="CSV", default=None, help="result (default: INPUT's name + .suggest.csv)")
    p.add_argument("--text-col", default="text", help="column holding the complaint text (default: text)")
    p.add_argument("--id-col", default="id", help="column naming each letter (default: id; row numbers when absent)")
    add_model_arg(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    src = Path(args.input)
    out = Path(args.output) if args.output else src.with_name(src.name + ".suggest.csv")
    df = read_table(src, required=[args.text_col])
    ids = df[args.id_col].tolist() if args.id_col and args.id_col in df else None
    rows = suggest(load_model(args.model), df[args.text_col].tolist(), ids, args.n)
    with atomic_output(out, [src]) as tmp, open(tmp, "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    cats = len({r["category"] for r in rows})
    print(f"{len(rows)} of {len(df):,} letters to label ({cats} predicted categories, margin up to "
          f"{max((r['margin'] for r in rows), default=0):.2f}) → {out}")
    return 0
