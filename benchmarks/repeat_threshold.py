"""How estimated Jaccard similarity (the repeat-letter test) spreads over real letter pairs, to choose its threshold.

Signs ``--letters`` real letters (read at run time from ../shared/datasets/gov-messages-2020; nothing is kept),
compares every pair, prints how many pairs fall in each similarity band and, with ``--show N``, N random pairs
per band (their first 60 characters, on this terminal only) so a person can judge which bands are the same case.

    python benchmarks/repeat_threshold.py --letters 4000 --show 8
"""
from __future__ import annotations

import argparse
import itertools
import random
import sys
import time

import numpy as np

from triage.real_letters import read_dataset
from triage.store import repeats

BANDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.8, 1.01)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--letters", type=int, default=4000)
    p.add_argument("--show", type=int, default=0, help="sample pairs to print per band")
    args = p.parse_args(argv)
    texts = [t for t in read_dataset()["text"].tolist() if t and t.strip()]
    random.Random(0).shuffle(texts)
    texts = texts[: args.letters]
    t0 = time.perf_counter()
    sigs = np.stack([np.frombuffer(repeats.signature(t), dtype="<u4") for t in texts])
    print(f"{len(texts)} letters signed in {(time.perf_counter() - t0) / len(texts) * 1000:.2f} ms each; "
          f"{len(texts) * (len(texts) - 1) // 2:,} pairs; threshold in force {repeats.THRESHOLD}")
    pairs = []
    for i in range(len(texts)):
        s = (sigs[i + 1 :] == sigs[i]).mean(axis=1)
        pairs += [(float(s[j]), i, i + 1 + j) for j in np.nonzero(s >= BANDS[0])[0]]
    rng = random.Random(1)
    for lo, hi in itertools.pairwise(BANDS):
        band = [x for x in pairs if lo <= x[0] < hi]
        print(f"[{lo:.2f}, {min(hi, 1):.2f}{')' if hi <= 1 else ']'}: {len(band)} pairs")
        for sim, i, j in rng.sample(band, min(args.show, len(band))):
            print(f"   {sim:.2f} | {texts[i][:60]!r} || {texts[j][:60]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
