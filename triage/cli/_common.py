"""Argument helpers shared by sub-commands."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_model_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="DIR", default=None, help="model directory (default: models/default or $TRIAGE_MODEL_DIR)")


def add_label_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--text-col", default="text", help="column holding the complaint text (default: text)")
    p.add_argument("--category-col", default="category", help="category label column; '' for none (default: category)")
    p.add_argument("--unit-col", default="unit", help="unit label column; '' for none (default: unit)")


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
