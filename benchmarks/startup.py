"""A short job from a cold process: classify one letter, whole process, against the common baseline.

Each run is a fresh ``python`` process started here, timed from spawn to exit, with its peak resident memory
(``getrusage`` of the waited-for child). triage runs ``triage classify TEXT`` on the bundled default model;
the baseline (``_baseline.py``) is ``jieba.lcut`` + ``TfidfVectorizer`` + ``LinearSVC`` trained on ``data/train.csv``
(once, before the timing, untimed) and saved with joblib, and its process loads that file and classifies the same
letter — its model load is inside its timing as triage's is. The machine is noisy, so the two alternate ``--repeat`` times
and the medians and the median of the per-pair ratios are reported, with the core count.

    python benchmarks/startup.py [--repeat 7]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from _baseline import cores, prepare, run_measured

LETTER = "我去东坝镇派出所办户口，等了一上午窗口一直没人，打电话也不接"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7, help="triage/baseline pairs, run alternately (default 7)")
    args = ap.parse_args(argv)
    triage_bin = Path(sys.executable).with_name("triage")
    with tempfile.TemporaryDirectory() as tmp:
        model = prepare(Path(tmp) / "baseline")
        rows = {"triage": [], "baseline": []}
        for _ in range(args.repeat):
            rows["triage"].append(run_measured([str(triage_bin), "classify", LETTER]))
            rows["baseline"].append(run_measured([sys.executable, str(model.parent / "classify.py"), str(model), LETTER,
                                                  str(model.parent)]))
    ratios = [t[0] / b[0] for t, b in zip(rows["triage"], rows["baseline"])]
    print(f"{cores()}; {args.repeat} alternating pairs; one letter, whole process")
    print("| | wall, median | peak memory, median | wall vs baseline, median of pairs |")
    print("|---|---|---|---|")
    for name, runs in rows.items():
        wall = statistics.median(s for s, _ in runs)
        mem = statistics.median(m for _, m in runs)
        ratio = f"{statistics.median(ratios):.2f}×" if name == "triage" else "1.00×"
        print(f"| {name} | {wall:.2f} s | {mem:.0f} MB | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
