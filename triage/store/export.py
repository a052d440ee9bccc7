"""Reviewed letters as a training CSV: ``text,category,unit`` with the final labels, plus where they came from."""
from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import TextIO

from .records import Letter, iso

COLUMNS = ("id", "text", "category", "unit", "model_category", "model_unit", "reviewed_by", "reviewed_at")


def write_corrections(letters: Iterable[Letter], out: TextIO) -> tuple[int, int]:
    """Write one row per reviewed letter that still has its text; returns (rows written, skipped: text purged).

    ``triage train --data data/train.csv --data corrections.csv`` reads it as it is."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    written = skipped = 0
    for letter in letters:
        if letter.review is None:
            continue
        if not letter.text:
            skipped += 1
            continue
        w.writerow([letter.id, letter.text, letter.review.category, letter.review.unit, letter.category or "",
                    letter.unit or "", letter.review.by, iso(letter.review.at)])
        written += 1
    return written, skipped
