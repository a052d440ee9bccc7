"""A short job from a cold process: classify one letter, whole process, against the common baseline.

Each run is a fresh ``python`` process started here, timed from spawn to exit, with its peak resident memory
(``getrusage`` of the waited-for child). triage runs ``triage classify TEXT`` on the bundled default model;
the baseline is ``jieba.lcut`` + ``TfidfVectorizer`` + ``LinearSVC`` trained on ``data/train.csv`` (once, before the
timing, untimed) and saved with joblib, and its process loads that file and classifies the same letter — its
model load is inside its timing as triage's is. The machine is noisy, so the two alternate ``--repeat`` times
and the medians and the median of the per-pair ratios are reported, with the core count.

    python benchmarks/startup.py [--repeat 7]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "data" / "train.csv"
LETTER = "我去东坝镇派出所办户口，等了一上午窗口一直没人，打电话也不接"
#: The baseline's tokenizer lives in a module of its own so that the pickled pipeline refers to it by name
#: (``jieba.lcut`` itself is a bound method of an object holding a lock, which cannot be pickled).
TOKENIZER_MODULE = """
import jieba


def lcut(text):
    return jieba.lcut(text)
"""
BASELINE_RUN = """
import sys
sys.path.insert(0, sys.argv[3])
import joblib
pipe = joblib.load(sys.argv[1])
print(pipe.predict([sys.argv[2]])[0])
"""


def train_baseline(path: Path) -> None:
    """The tutorial pipeline on the corpus, saved with joblib (not timed); its tokenizer module is beside it."""
    (path.parent / "baseline_tok.py").write_text(TOKENIZER_MODULE, encoding="utf-8")
    sys.path.insert(0, str(path.parent))
    import baseline_tok
    import joblib
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    df = pd.read_csv(TRAIN)
    pipe = make_pipeline(TfidfVectorizer(tokenizer=baseline_tok.lcut, token_pattern=None), LinearSVC())
    pipe.fit(df["text"], df["category"])
    joblib.dump(pipe, path)


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process run to completion."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[0]} … failed with exit code {os.waitstatus_to_exitcode(status)}")
    return seconds, usage.ru_maxrss / 1024


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7, help="triage/baseline pairs, run alternately (default 7)")
    args = ap.parse_args(argv)
    triage_bin = Path(sys.executable).with_name("triage")
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "baseline.joblib"
        train_baseline(model)
        script = Path(tmp) / "baseline_classify.py"
        script.write_text(BASELINE_RUN, encoding="utf-8")
        rows = {"triage": [], "baseline": []}
        for _ in range(args.repeat):
            rows["triage"].append(timed([str(triage_bin), "classify", LETTER]))
            rows["baseline"].append(timed([sys.executable, str(script), str(model), LETTER, tmp]))
    ratios = [t[0] / b[0] for t, b in zip(rows["triage"], rows["baseline"])]
    print(f"{os.cpu_count()} cores; {args.repeat} alternating pairs; one letter, whole process")
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
