"""The common baseline every benchmark compares against, and how to time whole processes fairly.

The baseline is the tutorial pipeline: ``jieba.lcut`` + scikit-learn ``TfidfVectorizer`` + ``LinearSVC`` trained on
``data/train.csv`` and saved with joblib (training is not timed). Its jobs — classify one letter, label a CSV,
serve ``POST /v1/classify`` — each load that file inside their own timing, as triage's jobs load its model.

:func:`run_measured` times a command from spawn to exit and samples the resident memory of its whole process
tree (the command and every worker it starts), reporting the largest sum seen.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from triage.real_letters import default_dataset_dir

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "data" / "train.csv"
DATASET = default_dataset_dir()

#: The baseline's tokenizer lives in a module of its own so that the pickled pipeline refers to it by name
#: (``jieba.lcut`` itself is a bound method of an object holding a lock, which cannot be pickled).
TOKENIZER_MODULE = """
import jieba

jieba.setLogLevel(60)


def lcut(text):
    return jieba.lcut(text)
"""

#: ``python classify.py MODEL TEXT``: load the pipeline, print one label.
CLASSIFY_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[3])
import joblib
pipe = joblib.load(sys.argv[1])
print(pipe.predict([sys.argv[2]])[0])
"""

#: ``python batch.py MODEL IN OUT DIR``: load the pipeline, label the title + text of every row, write CSV.
BATCH_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[4])
import joblib
import pandas as pd
pipe = joblib.load(sys.argv[1])
df = pd.read_csv(sys.argv[2], dtype=str, keep_default_na=False)
df["category"] = pipe.predict((df["title"] + "\\n" + df["text"]).tolist())
df.to_csv(sys.argv[3], index=False)
"""

#: ``python -m uvicorn baseline_app:app``: the same pipeline behind FastAPI, one text per request.
SERVER_APP = """
import os
import sys
sys.path.insert(0, os.path.dirname(__file__))
from contextlib import asynccontextmanager

import joblib
from fastapi import FastAPI
from pydantic import BaseModel

state = {}


@asynccontextmanager
async def lifespan(app):
    state["pipe"] = joblib.load(os.environ["BASELINE_MODEL"])
    yield


app = FastAPI(lifespan=lifespan)


class Letter(BaseModel):
    text: str
    top_k: int = 3


@app.get("/readyz")
def ready():
    return {"ok": "pipe" in state, "model": {"name": "baseline", "sha256": ""}}


@app.post("/v1/classify")
def classify(letter: Letter):
    return {"category": str(state["pipe"].predict([letter.text])[0])}
"""


def prepare(directory: Path) -> Path:
    """Train the baseline into ``directory`` (untimed) with its scripts beside it; return the model's path."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "baseline_tok.py").write_text(TOKENIZER_MODULE, encoding="utf-8")
    for name, text in (("classify.py", CLASSIFY_SCRIPT), ("batch.py", BATCH_SCRIPT), ("baseline_app.py", SERVER_APP)):
        (directory / name).write_text(text, encoding="utf-8")
    sys.path.insert(0, str(directory))
    import baseline_tok
    import joblib
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    df = pd.read_csv(TRAIN, dtype=str, keep_default_na=False)
    pipe = make_pipeline(TfidfVectorizer(tokenizer=baseline_tok.lcut, token_pattern=None), LinearSVC())
    pipe.fit(df["text"], df["category"])
    path = directory / "baseline.joblib"
    joblib.dump(pipe, path)
    return path


def run_measured(cmd: list[str], *, env: dict | None = None, cwd: Path | None = None,
                 interval: float = 0.01) -> tuple[float, float]:
    """Wall seconds from spawn to exit, and peak resident memory (MB) summed over the process tree.

    Every ``interval`` seconds the tree is walked and each process's own peak (``VmHWM`` in ``/proc``, which
    starts afresh at ``exec``) is recorded; the figure is the sum of those peaks over every process seen. (The
    ``ru_maxrss`` of a waited-for child would include the benchmark's own image from before ``exec``.)
    """
    import psutil

    err = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=cwd)
    root = psutil.Process(proc.pid)
    peaks: dict[int, int] = {}
    tree, listed = [proc.pid], 0.0
    while proc.poll() is None:
        now = time.perf_counter() - t0
        if now - listed > 0.25:  # listing children scans every process: a few times a second is enough
            try:
                tree = [proc.pid, *(c.pid for c in root.children(recursive=True))]
            except psutil.NoSuchProcess:
                pass
            listed = now
        for pid in tree:
            peaks[pid] = max(peaks.get(pid, 0), _peak_kb(pid))
        # every 10 ms in the first second (short jobs), then every 50 ms: sampling must not steal a core
        time.sleep(interval if now < 1 else 5 * interval)
    seconds = time.perf_counter() - t0
    err.seek(0)
    tail = err.read().decode(errors="replace")[-2000:]
    err.close()
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd[:3])} … failed ({proc.returncode}):\n{tail}")
    return seconds, sum(peaks.values()) / 1024


def _peak_kb(pid: int) -> int:
    """A process's peak resident memory so far (kB), or 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cores() -> str:
    return f"{os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable)"
