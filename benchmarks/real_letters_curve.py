"""Learning curve on the real letters: how the default model's CV figures grow with the real letters it trains on.

The folds are those of ``real_letters_cv.py`` (grouped 5-fold over corpus + real letters, near-duplicates kept
together). In each fold the model trains on the whole bundled corpus plus a fraction of that fold's real training
letters (a seeded draw), and is scored on the same held-out fifth, so every fraction is scored on all 6,779
letters. The slope says how many more real letters a goal would need with this model.

    python benchmarks/real_letters_curve.py                      # fractions 0.25, 0.5, 1
    python benchmarks/real_letters_curve.py --fractions 0.5,1 --seed 1
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from real_letters_cv import corpus_and_fitter

from triage.evaluate import cross_validate, work_style_scores
from triage.pipeline import DEFAULT_PARAMS


def subsampled(fit, fraction: float, seed: int):
    """``fit`` on the corpus rows plus a seeded ``fraction`` of the real rows of its training frame."""

    def fit_fraction(frame: pd.DataFrame):
        real = frame["origin"].eq("real").to_numpy()
        rng = np.random.default_rng([seed, len(frame)])
        keep = ~real | (rng.random(len(frame)) < fraction)
        return fit(frame[keep])

    return fit_fraction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fractions", default="0.25,0.5,1", help="shares of the real training letters to use")
    parser.add_argument("--seed", type=int, default=0, help="random_state of the folds and the draws")
    args = parser.parse_args()
    frame, fit = corpus_and_fitter(DEFAULT_PARAMS)
    real = np.flatnonzero(frame["origin"].eq("real").to_numpy())
    y = frame["category"].to_numpy()[real]
    print(f"real letters: {len(real)}; folds seed {args.seed}; each fold also trains on the whole corpus")
    print("| share of real training letters | real letters per fold (mean) | accuracy | work style P | R | right of eight | seconds |")
    print("|---|---|---|---|---|---|---|")
    for fraction in (float(f) for f in args.fractions.split(",")):
        t0 = time.perf_counter()
        cv = cross_validate(subsampled(fit, fraction, args.seed), frame, "text", "category", "unit",
                            return_predictions=True, groups=frame["group"].to_numpy(), random_state=args.seed)
        pred = np.array([cv["predictions"][i].category for i in real])
        ws = work_style_scores(y, pred)
        print(f"| {fraction:g} | {round(len(real) * 0.8 * fraction):,} | {np.mean(pred == y):.4f} | {ws['precision']} | "
              f"{ws['recall']} | {ws['right_of_eight']} | {time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
