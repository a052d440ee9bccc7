"""Assemble ``data/real/labels.csv`` from the blind labelling passes and report their agreement.

Each letter of ``data/real/pool.csv`` was labelled by two labellers working blind (pass A and pass B, one CSV
``id,category`` per batch). Where they disagreed a third reader, shown the letter and the two proposed labels
(not who gave them), settled it (pass C). The letters labelled before the guide's rules 9–12 existed were read
again under the final guide (pass R); where that reading differs from the settled label, another reader shown
both settled it (pass D). Only ids and labels are written; the texts stay in the dataset.

    python data/tools/real_labels.py --passes /tmp/triage-label/out
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from sklearn.metrics import cohen_kappa_score

ROOT = Path(__file__).resolve().parents[2]
CATEGORIES = ("slow", "shirking", "lax", "arrogant", "formalism", "lazy", "mediocre", "misconduct", "other")


def read_pass(folder: Path) -> pd.Series:
    """All batch files of one pass as a Series ``id → category``; refuses unknown ids or labels."""
    frames = [pd.read_csv(f, dtype=str) for f in sorted(folder.glob("batch_*.csv"))]
    if not frames:
        return pd.Series(dtype=str)
    labels = pd.concat(frames, ignore_index=True)
    labels["category"] = labels["category"].str.strip()
    bad = labels.loc[~labels["category"].isin(CATEGORIES)]
    if len(bad):
        raise SystemExit(f"{folder}: {len(bad)} label(s) outside the categories, e.g. {bad.iloc[0].to_dict()}")
    return labels.drop_duplicates("id", keep="last").set_index("id")["category"]


def agreement(a: pd.Series, b: pd.Series) -> dict[str, float]:
    """Raw agreement and Cohen's kappa over the ids both passes labelled, on 9 labels and on work style vs other."""
    ids = a.index.intersection(b.index)
    x, y = a.loc[ids], b.loc[ids]
    return {
        "n": len(ids),
        "raw": round(float((x == y).mean()), 4),
        "kappa": round(float(cohen_kappa_score(x, y)), 4),
        "raw_work_style": round(float(((x != "other") == (y != "other")).mean()), 4),
        "kappa_work_style": round(float(cohen_kappa_score(x != "other", y != "other")), 4),
    }


def assemble(pool: pd.DataFrame, a: pd.Series, b: pd.Series, c: pd.Series,
             r: pd.Series | None = None, d: pd.Series | None = None) -> pd.DataFrame:
    """One row per letter labelled by both passes: agreed, or settled by the third reader when there is one; then
    re-read under the final guide where pass R has the letter (pass D settles a different re-reading)."""
    out = pool[pool["id"].isin(a.index.intersection(b.index))].copy()
    out["label_a"] = out["id"].map(a)
    out["label_b"] = out["id"].map(b)
    out["label_c"] = out["id"].map(c).astype(object).fillna("")
    agreed = out["label_a"] == out["label_b"]
    out["category"] = out["label_a"].where(agreed, out["label_c"])
    out["settled"] = "agreed"
    out.loc[~agreed, "settled"] = "third_read"
    unsettled = out["category"].eq("")
    if unsettled.any():
        print(f"{int(unsettled.sum())} disagreement(s) still wait for a third read; they are left out.")
    out = out[~unsettled]
    out["label_r"] = out["id"].map(r if r is not None else {}).astype(object).fillna("")
    reread = out["label_r"].ne("")
    changed = reread & out["label_r"].ne(out["category"])
    out.loc[reread & ~changed, "settled"] += "+reread_same"
    final = out["id"].map(d if d is not None else {}).astype(object).fillna("")
    waiting = changed & final.eq("")
    if waiting.any():
        print(f"{int(waiting.sum())} re-reading(s) differ and wait for pass D; they keep their settled label.")
    done = changed & final.ne("")
    out.loc[done, "settled"] += "+reread_settled"
    out.loc[done, "category"] = final[done]
    return out[["id", "source", "stratum", "category", "label_a", "label_b", "label_c", "label_r", "settled"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passes", type=Path, required=True, help="folder with A/, B/ and C/ batch files")
    parser.add_argument("--pool", type=Path, default=ROOT / "data" / "real" / "pool.csv")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "real" / "labels.csv")
    args = parser.parse_args()
    pool = pd.read_csv(args.pool, dtype=str)
    a, b, c, r, d = (read_pass(args.passes / p) for p in "ABCRD")
    print("agreement A vs B:", agreement(a, b))
    for stratum, ids in pool.groupby("stratum")["id"]:
        print(f"  {stratum}:", agreement(a[a.index.isin(ids)], b[b.index.isin(ids)]))
    print("agreement reread R vs the settled label:", end=" ")
    labels = assemble(pool, a, b, c, r, d)
    print(agreement(r, assemble(pool, a, b, c).set_index("id")["category"]))
    labels.to_csv(args.out, index=False)
    print(f"{len(labels)} letters → {args.out}")
    print(labels.groupby(["stratum", "category"]).size().unstack(0).fillna(0).astype(int).to_string())


if __name__ == "__main__":
    main()
