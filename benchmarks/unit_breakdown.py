"""Unit accuracy of a model on labelled letters, by unit type (township, department, stationed, unknown) and by the
``unit_source`` of the label, plus the commonest confusions.

    python benchmarks/unit_breakdown.py --data data/dev.csv --data data/test.csv [--model DIR]
"""
from __future__ import annotations

import argparse
from collections import Counter

import pandas as pd

from triage import load_model
from triage.registry import UNKNOWN


def breakdown(model, df: pd.DataFrame) -> dict:
    preds = model.classify_many(df["text"].tolist(), evidence=False)
    reg = model.registry
    kind = df["unit"].map(lambda u: "unknown" if u == UNKNOWN else reg[u].type if u in reg else "?")
    right = pd.Series([p.unit == u for p, u in zip(preds, df["unit"])], index=df.index)
    out = {"n": len(df), "accuracy": round(float(right.mean()), 4),
           "by_type": {k: (int(v.size), round(float(v.mean()), 4)) for k, v in right.groupby(kind)},
           "by_label_source": {k: (int(v.size), round(float(v.mean()), 4)) for k, v in right.groupby(df["unit_source"])},
           "by_predicted_source": {k: (int(v.size), round(float(v.mean()), 4))
                                   for k, v in right.groupby(pd.Series([p.unit_source for p in preds], index=df.index))},
           "confusions": Counter((u, p.unit) for p, u in zip(preds, df["unit"]) if p.unit != u).most_common(8)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", action="append", required=True)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    model = load_model(args.model)
    for path in args.data:
        r = breakdown(model, pd.read_csv(path))
        print(f"{path}: n={r['n']} unit accuracy {r['accuracy']:.4f}")
        for key in ("by_type", "by_label_source", "by_predicted_source"):
            print(f"  {key}: " + ", ".join(f"{k} {acc:.3f} (n={n})" for k, (n, acc) in r[key].items()))
        print("  commonest confusions (label → predicted): " + ", ".join(f"{a}→{b} {c}" for (a, b), c in r["confusions"]))


if __name__ == "__main__":
    main()
