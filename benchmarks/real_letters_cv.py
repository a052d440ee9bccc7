"""Grouped 5-fold CV on the real labelled letters: how training settings do on what users send.

Every fold trains on the whole bundled corpus plus four fifths of the real letters (near-duplicates kept
together) and predicts the fifth, exactly as ``triage train`` measures the default model. Settings are compared
on the same folds; ``--seed`` draws other folds, to check a choice made on one split on another.

    python benchmarks/real_letters_cv.py                         # the default settings
    python benchmarks/real_letters_cv.py --set C=0.3 --set head_chars=60 --seed 1
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from triage import paths
from triage.evaluate import cross_validate, score_by_origin, work_style_scores
from triage.pipeline import DEFAULT_PARAMS
from triage.real_letters import LABELS_CSV
from triage.registry import Registry
from triage.train import (
    build_segmenter,
    load_categories,
    load_training_data,
    make_fitter,
    tune_thresholds,
    with_real_letters,
)


def parse_value(v: str):
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v


def corpus_and_fitter(params: dict, labels=LABELS_CSV):
    """The bundled corpus joined with the real letters, and the fit function ``triage train`` uses for them."""
    data, info = with_real_letters(load_training_data([paths.TRAIN_CSV]), labels, None)
    if not data.real_rows:
        raise SystemExit(f"no real letters: {info.get('left_out')}")
    registry = Registry.from_csv(paths.UNITS_CSV)
    return data.frame, make_fitter(registry, build_segmenter(registry, [paths.USERDICT]), load_categories(), params)


def run(params: dict, seed: int, folds: int, labels=LABELS_CSV) -> dict:
    frame, fit = corpus_and_fitter(params, labels)
    t0 = time.perf_counter()
    cv = cross_validate(fit, frame, "text", "category", "unit", n_splits=folds, return_predictions=True,
                        groups=frame["group"].to_numpy(), random_state=seed)
    preds = cv.pop("predictions")
    thresholds, review = tune_thresholds(preds, frame)
    out = {"params": params, "seed": seed, "seconds": round(time.perf_counter() - t0, 1), "thresholds": thresholds,
           "review": review, "by_origin": score_by_origin(preds, frame, thresholds), "unit": cv.get("unit")}
    real = frame.index[frame["origin"].eq("real")]
    for stratum in ("random", "screened"):
        idx = [i for i in real if frame.at[i, "stratum"] == stratum]
        y = [frame.at[i, "category"] for i in idx]
        p = [preds[i].category for i in idx]
        out[stratum] = {"n": len(idx), "accuracy": round(float(np.mean([a == b for a, b in zip(y, p)])), 4),
                        **{k: v for k, v in work_style_scores(y, p).items() if k != "confusion"}}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a training parameter")
    parser.add_argument("--seed", type=int, default=0, help="random_state of the folds")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--labels", default=LABELS_CSV, help="real-letter labels (default: data/real/labels.csv)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    params = {**DEFAULT_PARAMS, **{k: parse_value(v) for k, v in (s.split("=", 1) for s in args.set)}}
    r = run(params, args.seed, args.folds, args.labels)
    if args.json:
        print(json.dumps(r, ensure_ascii=False))
        return
    real = r["by_origin"]["real"]
    ws = real["work_style"]
    print(f"settings: {' '.join(args.set) or 'defaults'}; folds seed {args.seed}; {r['seconds']} s")
    print(f"real letters n={real['n']}: accuracy {real['accuracy']:.4f} macro-F1 {real['macro_f1']:.4f}; work style "
          f"P {ws['precision']:.4f} R {ws['recall']:.4f}; right of eight {ws['right_of_eight']:.4f}")
    for stratum in ("random", "screened"):
        s = r[stratum]
        print(f"  {stratum:<9} n={s['n']}: accuracy {s['accuracy']:.4f}; work style P {s['precision']} R {s['recall']}; "
              f"right of eight {s['right_of_eight']}")
    for name, what in (("category_flag", "category flag"), ("review_flag", "needs_review (either head)")):
        flag = real[name]
        print(f"  {what} at {flag['thresholds']}: flags {flag['flagged_share']:.1%}; category accuracy of the rest "
              f"{flag['unflagged_accuracy']}")
    corpus = r["by_origin"]["file"]
    print(f"corpus n={corpus['n']}: accuracy {corpus['accuracy']:.4f} macro-F1 {corpus['macro_f1']:.4f}")
    if r["unit"]:
        print(f"corpus units n={r['unit']['n']}: accuracy {r['unit']['accuracy']:.4f}")


if __name__ == "__main__":
    main()
