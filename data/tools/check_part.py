"""Validate a hand-written corpus part (JSON Lines) and print its distribution.

Usage: python data/tools/check_part.py data/parts/FILE.jsonl [...]
Each line: {"text", "category", "unit", "unit_source", "source"}.
"""
from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT.parent / "shared" / "spec"
CATS = {r["id"] for r in csv.DictReader(open(ROOT / "data" / "categories.csv", encoding="utf-8"))}
UNITS_FILE = ROOT / "data" / "units.csv"
if not UNITS_FILE.exists():
    UNITS_FILE = SPEC / "units.csv"
UNITS = {r["id"] for r in csv.DictReader(open(UNITS_FILE, encoding="utf-8"))} | {"unknown"}
SOURCES = {"box", "hotline", "board", "insider", "business", "sms"}
UNIT_SOURCES = {"mention", "inferred", "none"}
# Phrases lifted from the campaign plan; at most a quarter of items may use any of them.
PLAN_PHRASES = [
    "推诿扯皮", "敷衍塞责", "门难进", "脸难看", "事难办", "吃拿卡要", "生冷硬横", "一推一动", "不推不动",
    "拈轻怕重", "坐堂办公", "遥控指挥", "走马观花", "表面文章", "华而不实", "碌碌无为", "不思进取",
    "弄虚作假", "欺上瞒下", "在其位不谋其政", "甩手掌柜", "文山会海", "迟到早退", "摆架子", "耍特权",
    "搞特殊", "不作为", "乱作为", "走过场", "衙门作风", "官僚主义", "庸懒散", "自由散漫",
]


def band(n: int) -> str:
    return "<40" if n < 40 else ("40-200" if n <= 200 else ("200-600" if n <= 600 else ">600"))


def main(paths: list[str]) -> int:
    rows, errors = [], 0
    for p in paths:
        for i, line in enumerate(open(p, encoding="utf-8"), 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                print(f"{p}:{i}: bad JSON: {e}")
                errors += 1
                continue
            problems = []
            if not isinstance(r.get("text"), str) or not r["text"].strip():
                problems.append("empty text")
            if r.get("category") not in CATS:
                problems.append(f"category {r.get('category')!r} not in {sorted(CATS)}")
            if r.get("unit") not in UNITS:
                problems.append(f"unit {r.get('unit')!r} unknown")
            if r.get("unit_source") not in UNIT_SOURCES:
                problems.append(f"unit_source {r.get('unit_source')!r} not in {sorted(UNIT_SOURCES)}")
            if (r.get("unit") == "unknown") != (r.get("unit_source") == "none"):
                problems.append("unit 'unknown' goes with unit_source 'none' and only with it")
            if r.get("source") not in SOURCES:
                problems.append(f"source {r.get('source')!r} not in {sorted(SOURCES)}")
            if problems:
                print(f"{p}:{i}: " + "; ".join(problems))
                errors += 1
                continue
            rows.append(r)
    n = len(rows)
    print(f"\n{n} valid rows, {errors} bad")
    if not n:
        return 1
    texts = Counter(r["text"] for r in rows)
    dups = sum(c - 1 for c in texts.values() if c > 1)
    print("duplicate texts:", dups)
    for key in ("category", "unit_source", "source"):
        print(f"\nby {key}:", dict(Counter(r[key] for r in rows).most_common()))
    print("\nby length:", dict(Counter(band(len(r["text"])) for r in rows)))
    units = Counter(r["unit"] for r in rows)
    print("\nby unit:", dict(sorted(units.items())))
    print("units never used:", sorted(UNITS - set(units)))
    plan = sum(any(ph in r["text"] for ph in PLAN_PHRASES) for r in rows)
    print(f"\nitems using campaign-plan phrases: {plan} ({plan / n:.0%}; keep <= 25%)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
