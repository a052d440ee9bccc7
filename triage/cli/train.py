"""``triage train``: fit a model from labelled files and save it with its manifest."""
from __future__ import annotations

import argparse
import time

from .. import paths
from ..real_letters import LABELS_CSV
from ..train import train_and_save
from ._common import add_label_args


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a model (no arguments: the default model from data/)")
    p.add_argument("--data", action="append", metavar="FILE", help="labelled CSV/XLSX/JSONL file; repeatable (default: data/train.csv)")
    add_label_args(p)
    p.add_argument("--out", metavar="DIR", default=None, help="output directory (default: models/default)")
    p.add_argument("--units", metavar="CSV", default=str(paths.UNITS_CSV), help="unit registry (default: data/units.csv)")
    p.add_argument("--categories", metavar="CSV", default=str(paths.CATEGORIES_CSV), help="category display names")
    p.add_argument("--userdict", action="append", metavar="FILE", help="extra jieba user dictionary; repeatable")
    p.add_argument("--real-labels", metavar="CSV", default=None,
                   help="real letters labelled by id, joined with their dataset's texts (default without --data: "
                        "data/real/labels.csv)")
    p.add_argument("--no-real", action="store_true", help="train without the real letters")
    p.add_argument("--cv", type=int, default=5, help="folds used to measure the model and tune review thresholds (0: skip)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    files = args.data or [str(paths.TRAIN_CSV)]
    real_labels = None if args.no_real else args.real_labels or (None if args.data else str(LABELS_CSV))
    out = args.out or str(paths.default_model_dir())
    t0 = time.perf_counter()
    manifest = train_and_save(
        files,
        out,
        text_col=args.text_col,
        category_col=args.category_col or None,
        unit_col=args.unit_col or None,
        units_csv=args.units,
        categories_csv=args.categories,
        userdicts=[str(paths.USERDICT), *(args.userdict or [])],
        cv=args.cv,
        real_labels=real_labels,
    )
    m = manifest["metrics"]
    print(f"trained on {m['rows']} rows ({m['skipped_rows']} skipped) in {time.perf_counter() - t0:.1f}s → {out}")
    real = manifest["training_data"].get("real_letters")
    if real and real.get("left_out"):
        print(f"  left out the real letters ({real['labels']}): {real['left_out']}")
    elif real:
        print(f"  of them {real['rows']} real letters ({real['labels']}, category only)")
    for head in ("category", "unit"):
        cv = m.get("cv", {}).get(head)
        if cv:
            rv = m.get("review", {}).get(head, {})
            print(f"  {head}: {m['cv']['folds']}-fold CV accuracy {cv['accuracy']:.3f}, macro-F1 {cv['macro_f1']:.3f}; "
                  f"review below {m['thresholds'][head]:.2f} (auto-routes {rv.get('auto_routed_share', 0):.0%} "
                  f"at accuracy {rv.get('auto_routed_accuracy') or 0:.3f})")
    return 0
