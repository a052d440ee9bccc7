"""Do this checkout and an earlier revision say the same thing about every letter? Byte for byte.

Checks out ``--against`` (default ``368120b``, the last revision with pickled models) into a temporary git
worktree, and in each tree classifies the dev and test sets and every real message (read from
``../shared/datasets/gov-messages-2020/``) with that tree's own code and default model: ``classify_many`` as the CLI
and the API call it (every field: scores, alternatives, evidence, flags) and ``classify_table`` as batch runs do.
The outputs are written as JSON Lines and CSV and compared byte for byte.

    python benchmarks/outputs_unchanged.py [--against REV]
"""
from __future__ import annotations

import argparse
import filecmp
import subprocess
import sys
import tempfile
from pathlib import Path

from triage.real_letters import default_dataset_dir

ROOT = Path(__file__).resolve().parents[1]
DUMP = r"""
import json, sys
from pathlib import Path
import pandas as pd
import triage
root, dataset, out = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
model = triage.load_model(root / "models" / "default")
texts = []
for name in ("dev.csv", "test.csv"):
    texts += pd.read_csv(root / "data" / name, dtype=str, keep_default_na=False)["text"].tolist()
for name in ("messages.csv", "unlabelled.csv"):
    texts += pd.read_csv(dataset / name, dtype=str, keep_default_na=False)["text"].tolist()
with open(out + ".jsonl", "w", encoding="utf-8") as f:
    for i in range(0, len(texts), 500):
        for p in model.classify_many(texts[i : i + 500], errors="return"):
            f.write(json.dumps(p.to_dict() if hasattr(p, "to_dict") else {"error": str(p)}, ensure_ascii=False) + "\n")
model.classify_table(texts).to_csv(out + ".csv", index=False)
print(len(texts))
"""


def dump(tree: Path, dataset: Path, out: Path) -> int:
    env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", DUMP, str(tree), str(dataset), str(out)], cwd=tree, env=env,
                          capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"classifying with {tree} failed:\n{proc.stderr[-2000:]}")
    return int(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--against", default="368120b", help="git revision to compare with (default 368120b)")
    p.add_argument("--dataset", type=Path, default=default_dataset_dir())
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old = tmp / "old"
        subprocess.run(["git", "worktree", "add", "--detach", str(old), args.against], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            n_old = dump(old, args.dataset, tmp / "old_out")
            n_new = dump(ROOT, args.dataset, tmp / "new_out")
            same = {ext: filecmp.cmp(tmp / f"old_out.{ext}", tmp / f"new_out.{ext}", shallow=False)
                    for ext in ("jsonl", "csv")}
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, capture_output=True)
    print(f"{n_new:,} letters (dev, test, every real message); against {args.against} ({n_old:,} letters)")
    print(f"classify_many (CLI, API; every field): {'identical' if same['jsonl'] else 'DIFFERENT'}")
    print(f"classify_table (batch columns):        {'identical' if same['csv'] else 'DIFFERENT'}")
    return 0 if all(same.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
