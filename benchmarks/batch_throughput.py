"""Throughput and peak memory of ``triage batch`` against the common tutorial baseline, at two file sizes.

The input is built at run time, in a temporary directory, by repeating the real messages of
``../shared/datasets/gov-messages-2020/unlabelled.csv`` (read from there; nothing is copied into the repo).
Both write CSV. The baseline is pandas + ``jieba.lcut`` + scikit-learn ``TfidfVectorizer`` + ``LinearSVC`` trained on
``data/train.csv``, reading the whole file and predicting the whole text column at once. Each run happens in
its own child process so that its peak resident memory (``getrusage``) is its own.

The machine is noisy, so each size runs ``--repeat`` times, triage and baseline alternating, and the line
reports the median rows/s of each and the median of the per-pair ratios (each pair ran back to back).

    python benchmarks/batch_throughput.py                 # 25,000 and 100,000 rows, 3 pairs each
    python benchmarks/batch_throughput.py --rows 4000 --repeat 1   # quick: 1,000 and 4,000 rows
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "datasets" / "gov-messages-2020" / "unlabelled.csv"
TRAIN = ROOT / "data" / "train.csv"


def build_input(source: Path, rows: int, path: Path) -> None:
    """Repeat the source messages to ``rows`` rows (fresh ids), as a UTF-8 CSV."""
    import pandas as pd

    src = pd.read_csv(source, dtype=str, keep_default_na=False)
    reps = -(-rows // len(src))
    df = pd.concat([src] * reps, ignore_index=True).iloc[:rows]
    df["id"] = [f"m{i:07d}" for i in range(rows)]
    df.to_csv(path, index=False)


def peak_mb() -> dict[str, float]:
    """Peak RSS in MB of this process and of its largest waited-for child (ru_maxrss is in KB on Linux)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_mb": round(own, 1), "worker_peak_mb": round(child, 1)}


def child_triage(inp: str, out: str, jobs: int, chunksize: int) -> dict:
    import pandas as pd

    from triage.cli import main

    t0 = time.perf_counter()
    code = main(["batch", inp, "-o", out, "--text-col", "title,text", "--id-col", "id",
                 "--jobs", str(jobs), "--chunksize", str(chunksize), "--json"])
    seconds = time.perf_counter() - t0
    memory = peak_mb()  # before the check below reads the whole output back
    if code != 0:
        raise SystemExit(f"triage batch exited with {code}")
    labelled = pd.read_csv(out, dtype=str, keep_default_na=False, usecols=["category", "error"])
    expected = sum(1 for _ in pd.read_csv(inp, dtype=str, usecols=["id"], chunksize=50_000) for _ in _.index)
    if len(labelled) != expected or (labelled["category"] == "").sum() > (labelled["error"] != "").sum():
        raise SystemExit("triage batch output is incomplete: the benchmark would be meaningless")
    return {"seconds": seconds, "exit": code, "error_rows": int((labelled["error"] != "").sum()), **memory}


def child_baseline(inp: str, out: str) -> dict:
    import jieba
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    jieba.setLogLevel(60)
    jieba.initialize()
    t0 = time.perf_counter()
    train = pd.read_csv(TRAIN, dtype=str, keep_default_na=False)
    clf = make_pipeline(TfidfVectorizer(tokenizer=jieba.lcut, token_pattern=None), LinearSVC())
    clf.fit(train["text"], train["category"])
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    df = pd.read_csv(inp, dtype=str, keep_default_na=False)
    df["category"] = clf.predict(df["title"] + "\n" + df["text"])
    df.to_csv(out, index=False)
    return {"seconds": time.perf_counter() - t0, "train_seconds": train_s}


def run_child(kind: str, *args: str) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{kind} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=100_000, help="larger file size (the smaller is a quarter)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="triage batch --jobs (default: CPU count)")
    p.add_argument("--chunksize", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=3, help="alternating triage/baseline pairs per size (default 3)")
    p.add_argument("--source", type=Path, default=SOURCE)
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        result = child_triage(rest[0], rest[1], int(rest[2]), int(rest[3])) if kind == "triage" else child_baseline(*rest)
        print(json.dumps({**peak_mb(), **result}))
        return
    if not args.source.exists():
        raise SystemExit(f"{args.source} not found; pass --source PATH to unlabelled.csv.")
    print(f"machine: {os.cpu_count()} CPUs; triage batch --jobs {args.jobs} --chunksize {args.chunksize}; "
          f"{args.repeat} alternating pair(s) per size, medians shown")
    with tempfile.TemporaryDirectory() as tmp:
        for rows in (max(args.rows // 4, 1), args.rows):
            inp = Path(tmp) / f"in_{rows}.csv"
            build_input(args.source, rows, inp)
            pairs = []
            for _ in range(args.repeat):
                tri = run_child("triage", str(inp), str(Path(tmp) / "out.csv"), str(args.jobs), str(args.chunksize))
                base = run_child("baseline", str(inp), str(Path(tmp) / "base.csv"))
                pairs.append((rows / tri["seconds"], rows / base["seconds"], tri, base))
            t_rps = statistics.median(p[0] for p in pairs)
            b_rps = statistics.median(p[1] for p in pairs)
            ratios = sorted(t / b for t, b, _, _ in pairs)
            tri_peak = max(p[2]["peak_mb"] for p in pairs)
            worker_peak = max(p[2]["worker_peak_mb"] for p in pairs)
            base_peak = max(p[3]["peak_mb"] for p in pairs)
            print(f"{rows:>9,} rows ({inp.stat().st_size / 1e6:.0f} MB) | "
                  f"triage {t_rps:8,.0f} rows/s, peak {tri_peak:,.0f} MB (workers {worker_peak:,.0f} MB each) | "
                  f"baseline {b_rps:8,.0f} rows/s, peak {base_peak:,.0f} MB (training not counted) | "
                  f"ratio {statistics.median(ratios):.2f}x (pairs: {', '.join(f'{r:.2f}' for r in ratios)}) | "
                  f"triage rows with an error: {max(p[2]['error_rows'] for p in pairs)}", flush=True)


if __name__ == "__main__":
    main()
