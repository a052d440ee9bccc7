"""Assemble the labelled corpus from its parts.

    python data/tools/build_corpus.py

- ``data/parts/*.jsonl`` (hand-written training letters) + ``data/generated.jsonl`` (from
  ``data/tools/generate.py``, marked ``origin=generated``) → ``data/train.csv``
- ``data/dev/*.jsonl`` (hand-written, separate pass, never trained on) → ``data/dev.csv``
- ``data/test/*.jsonl`` (hand-written by an independent writer at the end, scored once) → ``data/test.csv``
- ``data/heldout/*.jsonl`` (a second held-out set by two more independent writers, written later) →
  ``data/heldout.csv``

Ids are stable: ``<part>-<line number>``. Texts that appear in dev, test or heldout are dropped from train, so they never overlap.
``data/relabel/units.csv`` (``id, old_unit, unit, unit_source, settled``) records the unit labels changed after the
letters were written (the rule "route to who must act"); each change is applied here, and a row whose ``old_unit``
no longer matches its letter stops the build.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

DATA = Path(__file__).resolve().parents[1]
COLUMNS = ["id", "text", "category", "unit", "unit_source", "source", "origin", "part"]


def read_part(path: Path, origin: str) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        r = json.loads(line)
        rows.append({"id": f"{path.stem}-{n:04d}", "text": r["text"].strip(), "category": r["category"], "unit": r["unit"],
                     "unit_source": r["unit_source"], "source": r["source"], "origin": r.get("origin", origin),
                     "part": path.stem})
    return rows


def apply_relabels(rows: list[dict], path: Path) -> int:
    """Apply the recorded unit relabels to ``rows`` in place; returns how many were applied."""
    if not path.exists():
        return 0
    by_id = {r["id"]: r for r in rows}
    with open(path, encoding="utf-8", newline="") as f:
        changes = list(csv.DictReader(f))
    for c in changes:
        row = by_id.get(c["id"])
        if row is None or row["unit"] != c["old_unit"]:
            raise SystemExit(f"{path.name}: {c['id']} is not labelled {c['old_unit']!r} any more; update the relabel file.")
        row["unit"], row["unit_source"] = c["unit"], c["unit_source"]
    return len(changes)


def write(rows: list[dict], path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    print(f"{path.relative_to(DATA.parent)}: {len(rows)} rows")


def main() -> None:
    dev = [r for p in sorted((DATA / "dev").glob("*.jsonl")) for r in read_part(p, "hand")]
    test = [r for p in sorted((DATA / "test").glob("*.jsonl")) for r in read_part(p, "hand")]
    heldout = [r for p in sorted((DATA / "heldout").glob("*.jsonl")) for r in read_part(p, "hand")]
    dev_texts = {r["text"] for r in dev + test + heldout}
    train = [r for p in sorted((DATA / "parts").glob("*.jsonl")) for r in read_part(p, "hand")]
    gen = DATA / "generated.jsonl"
    if gen.exists():
        train += read_part(gen, "generated")
    seen, kept = set(dev_texts), []
    for r in train:
        if r["text"] not in seen:
            seen.add(r["text"])
            kept.append(r)
    print(f"dropped {len(train) - len(kept)} training rows duplicating dev/test/heldout or each other")
    applied = apply_relabels(kept + dev + test, DATA / "relabel" / "units.csv")
    print(f"applied {applied} unit relabels")
    write(kept, DATA / "train.csv")
    write(dev, DATA / "dev.csv")
    if test:
        write(test, DATA / "test.csv")
    if heldout:
        write(heldout, DATA / "heldout.csv")


if __name__ == "__main__":
    main()
