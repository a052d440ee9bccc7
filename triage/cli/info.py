"""``triage info``: what a model is."""
from __future__ import annotations

import argparse

from .. import paths
from ..artifacts import read_manifest
from ..kernels import KERNELS, segment_compiled
from ._common import add_model_arg, print_json


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="show a model's manifest: labels, data hash, metrics, versions")
    add_model_arg(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    directory = args.model or paths.default_model_dir()
    m = read_manifest(directory)
    if args.json:
        print_json(m)
        return 0
    td, metrics = m.get("training_data", {}), m.get("metrics", {})
    print(f"model: {m.get('name')}  ({directory})")
    print(f"created: {m.get('created_at')}  git: {m.get('git_sha') or '-'}")
    art = m["artifact"]
    what = art.get("file") or f"{art.get('format')}, {len(art.get('files', {}))} files"
    print(f"artifact: {what}  sha256 {art.get('sha256')}  {art.get('bytes', 0):,} bytes")
    print(f"training data: {td.get('rows')} rows, sha256 {td.get('sha256')}  files {', '.join(td.get('files', []))}")
    real = td.get("real_letters") or {}
    if real:
        left_out = f"; left out: {real['left_out']}" if real.get("left_out") else ""
        print(f"  of them real letters: {real.get('rows', 0)} ({real.get('labels')}){left_out}")
    for head, labels in m.get("labels", {}).items():
        print(f"{head} labels ({len(labels)}): {' '.join(labels)}")
    for head in ("category", "unit"):
        cv = metrics.get("cv", {}).get(head)
        if cv:
            print(f"{head}: {metrics['cv']['folds']}-fold CV accuracy {cv['accuracy']}, macro-F1 {cv['macro_f1']}")
    print(f"review thresholds: {m.get('thresholds')}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items()))
    slow = "" if KERNELS == "C" else " (triage._kernels not built: reinstall with a C compiler for full speed)"
    print(f"inner loops: {KERNELS}{slow}")
    segmenting = "compiled (triage._segment)" if segment_compiled is not None else "rjieba (triage._segment not built)"
    print(f"batch segmentation: {segmenting}")
    return 0
