"""A keyword-rule classifier built only from ../shared/spec, scored beside the model on a labelled file.

    python benchmarks/keyword_baseline.py [--data data/dev.csv] [--model models/default]

Category: the category whose `covers` phrases (split on ';', and on '、' inside them) occur most often in the text;
`other` when none occurs. Unit: the first unit whose name, short names or covers occur (longest match first);
`unknown` when none does. This is the floor the model must clear.
"""
from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT.parent / "shared" / "spec"


def _phrases(cell: str) -> list[str]:
    return [p for p in re.split(r"[;、]", cell) if len(p) >= 2]


class KeywordRules:
    def __init__(self, spec: Path = SPEC) -> None:
        with open(spec / "categories.csv", encoding="utf-8") as f:
            self.cats = {r["id"]: _phrases(r["covers"]) for r in csv.DictReader(f) if r["id"] != "other"}
        names: dict[str, str] = {}
        with open(spec / "units.csv", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                for n in [r["name"], *_phrases(r["short_names"]), *_phrases(r["covers"])]:
                    names.setdefault(n, r["id"])
        self.unit_re = re.compile("|".join(map(re.escape, sorted(names, key=len, reverse=True))))
        self.names = names

    def category(self, text: str) -> str:
        counts = {c: sum(text.count(p) for p in ps) for c, ps in self.cats.items()}
        best = max(counts, key=counts.get)
        return best if counts[best] else "other"

    def unit(self, text: str) -> str:
        m = self.unit_re.search(text)
        return self.names[m.group()] if m else "unknown"


def main(argv=None) -> int:
    from sklearn.metrics import accuracy_score, f1_score

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT / "data" / "dev.csv"))
    ap.add_argument("--model", default=None)
    args = ap.parse_args(argv)
    df = pd.read_csv(args.data, dtype=str, keep_default_na=False)
    rules = KeywordRules()
    rows = {"keyword rules from spec/": ([rules.category(t) for t in df.text], [rules.unit(t) for t in df.text])}
    from triage import load_model

    preds = load_model(args.model).classify_many(df.text.tolist(), evidence=False)
    rows["triage default model"] = ([p.category for p in preds], [p.unit for p in preds])
    print(f"{args.data}: {len(df)} rows\n")
    print("| classifier | category accuracy | category macro-F1 | unit accuracy |")
    print("|---|---|---|---|")
    for name, (cats, units) in rows.items():
        print(f"| {name} | {accuracy_score(df.category, cats):.4f} | {f1_score(df.category, cats, average='macro'):.4f} "
              f"| {accuracy_score(df.unit, units):.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
