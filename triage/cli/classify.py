"""``triage classify``: classify texts given as arguments or on stdin."""
from __future__ import annotations

import argparse
import sys

from .. import load_model
from ..errors import InputTextError
from ..text import mask_pii
from ._common import add_model_arg, print_json


def add_parser(sub) -> None:
    p = sub.add_parser("classify", help="classify complaint texts ('-' reads one text per line from stdin)")
    p.add_argument("texts", nargs="+", metavar="TEXT")
    add_model_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON object per text")
    p.add_argument("--top-k", type=int, default=3, help="alternatives to show (default 3)")
    p.set_defaults(run=run)


def _inputs(texts: list[str]) -> list[str]:
    out = []
    for t in texts:
        if t == "-":
            out.extend(line.rstrip("\r\n") for line in sys.stdin)
        else:
            out.append(t)
    return out


def run(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    texts = _inputs(args.texts)
    status = 0
    for text, pred in zip(texts, model.classify_many(texts, top_k=args.top_k, errors="return")):
        if isinstance(pred, InputTextError):
            status = 1
            if args.json:
                print_json({"error": str(pred)})
            else:
                print(f"error: {pred}", file=sys.stderr)
        elif args.json:
            print_json(pred.to_dict())
        else:
            print(render(pred, text))
    return status


def render(pred, text: str) -> str:
    """A few readable lines for a terminal (phone and ID numbers masked)."""
    review = "yes (" + ", ".join(pred.review_reasons) + ")" if pred.needs_review else "no"
    alts = ", ".join(f"{a.char or a.category} {a.score:.2f}" for a in pred.alternatives)
    ev = ", ".join(f"{mask_pii(e.term)}[{e.start}:{e.end}]" for e in pred.evidence)
    masked = mask_pii(text)  # mask before cutting, so a number split by the cut is still recognised
    preview = masked[:60] + ("…" if len(masked) > 60 else "")
    return "\n".join([
        f"text: {preview}",
        f"category: {pred.category} {pred.char} {pred.name} ({pred.category_score:.2f})" + (f"  alternatives: {alts}" if alts else ""),
        f"unit: {pred.unit} {pred.unit_name} ({pred.unit_source}, {pred.unit_score:.2f})",
        f"evidence: {ev or '-'}",
        f"needs review: {review}",
        "",
    ])
