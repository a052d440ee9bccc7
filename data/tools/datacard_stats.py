"""Print the corpus counts the data card reports (markdown), from data/train.csv, dev.csv, test.csv and heldout.csv.

    python data/tools/datacard_stats.py
"""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

DATA = Path(__file__).resolve().parents[1]


def band(n: int) -> str:
    return "<40" if n < 40 else ("40-200" if n <= 200 else ("200-600" if n <= 600 else ">600"))


def table(title: str, counters: dict[str, Counter], keys) -> str:
    names = list(counters)
    lines = [f"| {title} | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(str(counters[n].get(k, 0)) for n in names) + " |")
    lines.append("| total | " + " | ".join(str(sum(counters[n].values())) for n in names) + " |")
    return "\n".join(lines)


def main() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from check_part import PLAN_PHRASES as phrases

    splits = {}
    for name in ("train", "dev", "test", "heldout"):
        p = DATA / f"{name}.csv"
        if p.exists():
            with open(p, encoding="utf-8") as f:
                splits[name] = list(csv.DictReader(f))
    with open(DATA / "units.csv", encoding="utf-8") as f:
        units = {r["id"]: r["type"] for r in csv.DictReader(f)}
    cats = ["slow", "shirking", "lax", "arrogant", "formalism", "lazy", "mediocre", "misconduct", "other"]
    by = lambda key: {n: Counter(r[key] for r in rows) for n, rows in splits.items()}  # noqa: E731
    print(table("category", by("category"), cats), "\n")
    print(table("unit_source", by("unit_source"), ["mention", "inferred", "none"]), "\n")
    print(table("source", by("source"), ["box", "hotline", "board", "insider", "business", "sms"]), "\n")
    print(table("length (chars)", {n: Counter(band(len(r["text"])) for r in rows) for n, rows in splits.items()},
                ["<40", "40-200", "200-600", ">600"]), "\n")
    print(table("unit type", {n: Counter(units.get(r["unit"], "unknown") for r in rows) for n, rows in splits.items()},
                ["township", "department", "stationed", "unknown"]), "\n")
    print(table("part", {n: Counter(r["part"] for r in rows) for n, rows in splits.items()},
                sorted({r["part"] for rows in splits.values() for r in rows})), "\n")
    print(table("unit", by("unit"), sorted(units) + ["unknown"]), "\n")
    for n, rows in splits.items():
        k = sum(any(ph in r["text"] for ph in phrases) for r in rows)
        print(f"{n}: {k} of {len(rows)} items ({k / len(rows):.1%}) use a campaign-plan phrase")


if __name__ == "__main__":
    main()
