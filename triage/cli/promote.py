"""``triage promote``: replace the current model with a candidate only if no head gets worse beyond noise."""
from __future__ import annotations

import argparse
import getpass
import os

from ..promote import ALPHA, TOLERANCE, default_sets, promote, render
from ._common import print_json


def add_parser(sub) -> None:
    p = sub.add_parser("promote", help="compare a retrained model with the current one; swap it in if no head gets worse")
    p.add_argument("candidate", metavar="DIR", help="the candidate model directory (e.g. models/candidate)")
    p.add_argument("--current", metavar="DIR", default=None,
                   help="the model to replace (default: models/default or $TRIAGE_MODEL_DIR); kept as DIR.previous")
    p.add_argument("--data", action="append", metavar="FILE",
                   help="labelled file to compare on; repeatable (default: data/dev.csv and data/test.csv)")
    p.add_argument("--real-labels", metavar="CSV", default=None,
                   help="real-letter labels to compare on, joined with the dataset's texts (default: data/real/labels.csv)")
    p.add_argument("--no-real", action="store_true", help="leave the real letters out of the comparison")
    p.add_argument("--tolerance", type=float, default=100 * TOLERANCE,
                   help=f"largest accuracy drop in points accepted on any set and head (default: {100 * TOLERANCE:g})")
    p.add_argument("--alpha", type=float, default=ALPHA, help=f"one-sided level of the paired test (default: {ALPHA})")
    p.add_argument("--dry-run", action="store_true", help="compare and decide, change nothing, record nothing")
    p.add_argument("--db", metavar="URL", default=None,
                   help="letter store whose audit trail gets the comparison (default: $TRIAGE_DB_URL; none without it)")
    p.add_argument("--by", default=None, help="who promotes, for the audit trail (default: the login name)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(run=run)


def _login() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None


def run(args: argparse.Namespace) -> int:
    sets, skipped = default_sets(args.data, args.real_labels, real=not args.no_real)
    url = args.db or os.environ.get("TRIAGE_DB_URL")
    store = None
    if url and not args.dry_run:
        from ..store import open_store

        store = open_store(url)
    try:
        outcome = promote(args.candidate, args.current, sets=sets, skipped=skipped, dry_run=args.dry_run, store=store,
                          by=args.by or _login(), alpha=args.alpha, tolerance=args.tolerance / 100)
    finally:
        if store is not None:
            store.close()
    if args.json:
        print_json({**outcome.comparison.to_dict(), "decision": outcome.decision,
                    "previous_dir": str(outcome.previous) if outcome.previous else None, "event_id": outcome.event_id})
    else:
        print(render(outcome))
        if outcome.decision == "promoted":
            print("the service picks it up on POST /v1/admin/reload (admin key) or SIGHUP")
    return 0 if outcome.decision in ("promoted", "would promote") else 1
