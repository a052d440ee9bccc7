"""``triage batch``: label every row of a CSV/XLSX/JSONL/Parquet file, streaming it in chunks."""
from __future__ import annotations

import argparse
import sys

from .. import load_model
from ..batch import ENGINES, label_file, tune_batch_process
from ._common import add_model_arg, print_json


def add_parser(sub) -> None:
    p = sub.add_parser("batch", help="label a whole file (CSV, XLSX, JSON Lines, Parquet) in chunks")
    p.add_argument("input", metavar="INPUT", help="file to label; never modified")
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT", help="result file; its extension sets the format")
    p.add_argument("--text-col", default="text", help="text column(s), comma-separated to join them, e.g. title,text (default: text)")
    p.add_argument("--id-col", default=None, metavar="ID", help="column naming rows in the error list of the summary")
    add_model_arg(p)
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="worker processes (default: one per usable core; a one-chunk file runs in this process)")
    p.add_argument("--chunksize", type=int, default=2000, metavar="K", help="rows per chunk (default 2000)")
    p.add_argument("--engine", choices=ENGINES, default="local", help="local processes or a dask.distributed cluster")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None, help="dask scheduler, e.g. tcp://host:8786 (default: a LocalCluster)")
    p.add_argument("--sheet", default=None, metavar="NAME", help="XLSX sheet to label (default: the first)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    tune_batch_process()
    summary = label_file(
        args.input,
        args.output,
        model=model,
        text_cols=[c.strip() for c in args.text_col.split(",") if c.strip()],
        id_col=args.id_col,
        chunksize=args.chunksize,
        jobs=args.jobs,
        engine=args.engine,
        scheduler=args.scheduler,
        progress=sys.stderr.isatty(),
        sheet=args.sheet,
    )
    if args.json:
        print_json(summary.to_dict())
    else:
        print(summary.render())
    return 0
