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

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "data" / "train.csv"
DATASET = Path(os.environ.get("TRIAGE_REAL_DATASET", ROOT.parent / "shared" / "datasets" / "gov-messages-2020"))

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
                 interval: float = 0.02) -> tuple[float, float]:
    """Wall seconds from spawn to exit, and peak resident memory (MB) summed over the process tree.

    The tree is sampled every ``interval`` seconds; the command's own peak (``wait4``'s ``ru_maxrss``, exact) is
    the floor, so a short single-process job is measured exactly too.
    """
    import psutil

    err = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=cwd)
    root = psutil.Process(proc.pid)
    peak = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        total = 0
        try:
            for p in [root, *root.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
        except psutil.NoSuchProcess:
            pass
        peak = max(peak, total)
        time.sleep(interval)
    seconds = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    err.seek(0)
    tail = err.read().decode(errors="replace")[-2000:]
    err.close()
    if code:
        raise SystemExit(f"{' '.join(cmd[:3])} … failed ({code}):\n{tail}")
    return seconds, max(peak / 2**20, usage.ru_maxrss / 1024)


def cores() -> str:
    return f"{os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable)"
