"""``triage evaluate``: score a model on labelled data, or cross-validate the training configuration."""
from __future__ import annotations

import argparse

from .. import load_model, paths
from ..evaluate import cross_validate, evaluate
from ..io import read_table
from ..registry import Registry
from ..train import build_segmenter, load_categories, load_training_data, make_fitter
from ._common import add_label_args, add_model_arg, print_json


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="score a model on a labelled file, or --cv K to cross-validate training")
    p.add_argument("--data", required=True, metavar="FILE", help="labelled CSV/XLSX/JSONL file")
    add_label_args(p)
    add_model_arg(p)
    p.add_argument("--cv", type=int, default=0, metavar="K", help="K-fold stratified cross-validation of training instead")
    p.add_argument("--units", metavar="CSV", default=str(paths.UNITS_CSV), help="unit registry for --cv")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.cv:
        data = load_training_data([args.data], args.text_col, args.category_col or None, args.unit_col or None)
        registry = Registry.from_csv(args.units)
        fit = make_fitter(registry, build_segmenter(registry, [paths.USERDICT] if paths.USERDICT.exists() else []),
                          load_categories(), None)
        result = cross_validate(fit, data.frame, "text", "category" if data.has_category else None,
                                "unit" if data.has_unit else None, n_splits=args.cv)
    else:
        model = load_model(args.model)
        df = read_table(args.data, required=[args.text_col])
        cat = args.category_col if args.category_col and args.category_col in df else None
        unit = args.unit_col if args.unit_col and args.unit_col in df else None
        result = evaluate(model, df, args.text_col, cat, unit)
    if args.json:
        print_json(result)
    else:
        print(render(result))
    return 0


def render(result: dict) -> str:
    lines = []
    if "folds" in result:
        lines.append(f"{result['folds']}-fold stratified CV (shuffle, random_state=0), wall time {result['seconds']:.1f}s")
    for head in ("category", "unit"):
        r = result.get(head)
        if not r:
            continue
        lines.append(f"\n{head}: n={r['n']} accuracy={r['accuracy']:.4f} macro-F1={r['macro_f1']:.4f} "
                     f"(auto-routed {r['auto_routed_share']:.0%} at accuracy {r['auto_routed_accuracy'] or 0:.4f})")
        lines.append(f"  {'label':<14}{'prec':>7}{'recall':>8}{'f1':>7}{'n':>6}")
        for lab, s in r["per_class"].items():
            lines.append(f"  {lab:<14}{s['precision']:>7.3f}{s['recall']:>8.3f}{s['f1']:>7.3f}{s['support']:>6}")
        labels, matrix = r["confusion"]["labels"], r["confusion"]["matrix"]
        lines.append("  confusion (rows: true, columns: predicted)")
        lines.append("  " + " " * 14 + "".join(f"{lab[:6]:>7}" for lab in labels))
        for lab, row in zip(labels, matrix):
            lines.append(f"  {lab:<14}" + "".join(f"{v:>7}" for v in row))
    lines.append(f"\nneeds review: {result.get('needs_review_share', 0):.0%}")
    if result.get("skipped_rows"):
        lines.append(f"skipped {result['skipped_rows']} row(s) with empty or unusable text")
    return "\n".join(lines)
