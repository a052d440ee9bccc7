"""``triage batch`` against the common baseline: whole processes, real messages, alternating runs.

The input is built at run time, in a temporary directory, by repeating the real messages of
``../shared/datasets/gov-messages-2020/unlabelled.csv`` (title + text; read from there, nothing is copied into the
repo). Each run is a fresh process timed from spawn to exit, with the peak of its whole process tree's resident
memory (workers included). The baseline (see ``_baseline.py``) loads its joblib pipeline inside its timing, reads
the CSV with pandas, predicts every row and writes CSV, on one process; triage runs ``triage batch`` on one
process and with ``--jobs N``. Runs alternate (triage, triage --jobs N, baseline) ``--repeat`` times; the table
gives medians and the median of the per-round ratios.

    python benchmarks/batch_throughput.py                       # 20,000 and 100,000 rows, 3 rounds each
    python benchmarks/batch_throughput.py --rows 2000 --repeat 1  # quick
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from _baseline import DATASET, cores, prepare, run_measured


def build_input(rows: int, path: Path) -> None:
    """Repeat the real messages to ``rows`` rows (fresh ids), as a UTF-8 CSV."""
    import pandas as pd

    src = pd.read_csv(DATASET / "unlabelled.csv", dtype=str, keep_default_na=False)
    df = pd.concat([src] * -(-rows // len(src)), ignore_index=True).iloc[:rows]
    df["id"] = [f"m{i:07d}" for i in range(rows)]
    df.to_csv(path, index=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default="20000,100000", help="comma-separated file sizes (default 20000,100000)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="triage batch --jobs N (default: cores)")
    p.add_argument("--repeat", type=int, default=3, help="alternating rounds per size (default 3)")
    args = p.parse_args(argv)
    if not (DATASET / "unlabelled.csv").exists():
        raise SystemExit(f"{DATASET / 'unlabelled.csv'} not found; set TRIAGE_REAL_DATASET.")
    triage = str(Path(sys.executable).with_name("triage"))
    print(f"{cores()}; {args.repeat} alternating round(s) per size; whole processes; medians")
    print("| rows | job | wall | rows/s | peak memory (all processes) | rows/s vs baseline |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = prepare(tmp / "baseline")
        for rows in (int(r) for r in args.rows.split(",")):
            src = tmp / f"in_{rows}.csv"
            build_input(rows, src)
            jobs = {
                "triage, 1 process": [triage, "batch", str(src), "-o", str(tmp / "t1.csv"), "--text-col", "title,text",
                                      "--id-col", "id", "--jobs", "1"],
                f"triage --jobs {args.jobs}": [triage, "batch", str(src), "-o", str(tmp / "tn.csv"), "--text-col",
                                               "title,text", "--id-col", "id", "--jobs", str(args.jobs)],
                "baseline (1 process)": [sys.executable, str(tmp / "baseline" / "batch.py"), str(model), str(src),
                                         str(tmp / "b.csv"), str(tmp / "baseline")],
            }
            runs: dict[str, list[tuple[float, float]]] = {name: [] for name in jobs}
            for _ in range(args.repeat):
                for name, cmd in jobs.items():
                    runs[name].append(run_measured(cmd))
            base = [s for s, _ in runs["baseline (1 process)"]]
            for name, measured in runs.items():
                wall = statistics.median(s for s, _ in measured)
                mem = statistics.median(m for _, m in measured)
                ratio = statistics.median(b / s for (s, _), b in zip(measured, base))
                print(f"| {rows:,} | {name} | {wall:.1f} s | {rows / wall:,.0f} | {mem:,.0f} MB | {ratio:.2f}× |",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
