"""``POST /v1/classify`` under load: triage's service beside the common baseline's, same client, one run.

Both servers run on loopback at once: ``triage serve`` (one worker, and ``--workers N`` beside it) and the
baseline pipeline behind FastAPI on one uvicorn worker (``_baseline.py``; it loads its joblib file at start-up as
triage loads its model). The same client sends the same real letters (title + text of
``../shared/datasets/gov-messages-2020/unlabelled.csv``, read at run time) with ``--concurrency`` connections;
the servers take turns, ``--repeat`` rounds, and the table gives medians and the median of per-round ratios.

The client is ``wrk`` (Debian's package: ``apt-get install wrk``), a C load generator: a Python client tops out
near the rate it is meant to measure on a 2-core machine and flattens every ratio. ``--client python`` uses the
httpx client of ``api_latency.py`` instead, for machines without wrk.

    python benchmarks/api_vs_baseline.py [--seconds 15] [--concurrency 32] [--repeat 3] [--workers 2]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path

from _baseline import DATASET, cores, prepare
from _server import free_port, serve, wait_ready
from api_latency import dataset_texts, run_level

#: wrk's script: each thread cycles through the request bodies (one JSON per line of the file it is given).
WRK_SCRIPT = """
local bodies = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  i = math.random(#bodies)
end
function request()
  i = i % #bodies + 1
  return wrk.format("POST", "/v1/classify", {["Content-Type"] = "application/json"}, bodies[i])
end
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def run_wrk(url: str, bodies: Path, script: Path, seconds: int, concurrency: int) -> dict:
    """One wrk run: requests/s, p50 and p99 in ms, and errors (socket errors and non-2xx answers)."""
    cmd = ["wrk", "-t2", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "30s", "--latency", "-s", str(script),
           url, "--", str(bodies)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    latency = {m[0]: float(m[1]) * _UNITS[m[2]] for m in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)}
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = (sum(map(int, socket.groups())) if socket else 0) + (int(non_2xx.group(1)) if non_2xx else 0)
    return {"requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": latency["50"], "p99_ms": latency["99"], "errors": errors}


@contextmanager
def baseline_server(model: Path):
    port = free_port()
    env = {**os.environ, "BASELINE_MODEL": str(model)}
    cmd = [sys.executable, "-m", "uvicorn", "baseline_app:app", "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1", "--log-level", "warning", "--timeout-keep-alive", "75"]
    proc = subprocess.Popen(cmd, cwd=model.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=int, default=15, help="wrk: seconds per server per round (default 15)")
    p.add_argument("--requests", type=int, default=2000, help="python client: requests per server per round")
    p.add_argument("--client", choices=["wrk", "python"], default="wrk")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--repeat", type=int, default=3, help="rounds, servers taking turns (default 3)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="triage serve --workers N beside one")
    args = p.parse_args(argv)
    if args.client == "wrk" and not shutil.which("wrk"):
        p.error("wrk is not installed: `apt-get install wrk`, or use --client python")
    texts = dataset_texts(DATASET / "unlabelled.csv")
    random.Random(0).shuffle(texts)
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        tmp = Path(tmp)
        bodies, script = tmp / "bodies.jsonl", tmp / "post.lua"
        bodies.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
        script.write_text(WRK_SCRIPT, encoding="utf-8")
        model = prepare(tmp / "baseline")
        urls = {"triage, 1 worker": stack.enter_context(serve(None, 1)).url}
        if args.workers > 1:
            urls[f"triage --workers {args.workers}"] = stack.enter_context(serve(None, args.workers)).url
        urls["baseline (1 worker)"] = stack.enter_context(baseline_server(model))
        runs: dict[str, list[dict]] = {name: [] for name in urls}
        for _ in range(args.repeat):
            for name, url in urls.items():
                if args.client == "wrk":
                    runs[name].append(run_wrk(url, bodies, script, args.seconds, args.concurrency))
                else:
                    runs[name].append(asyncio.run(run_level(url, texts, args.requests, args.concurrency, {})))
    per_round = f"{args.seconds} s" if args.client == "wrk" else f"{args.requests} requests"
    print(f"{cores()}; client {args.client}; {len(texts)} real letters; {per_round} × {args.repeat} rounds per "
          f"server at concurrency {args.concurrency}; servers alternate; medians")
    print("| server | req/s | p50 ms | p99 ms | errors | req/s vs baseline | p99 vs baseline |")
    print("|---|---|---|---|---|---|---|")
    base = runs["baseline (1 worker)"]
    for name, rs in runs.items():
        rps = statistics.median(r["requests_per_s"] for r in rs)
        p50 = statistics.median(r["p50_ms"] for r in rs)
        p99 = statistics.median(r["p99_ms"] for r in rs)
        ratio = statistics.median(r["requests_per_s"] / b["requests_per_s"] for r, b in zip(rs, base))
        p99_ratio = statistics.median(r["p99_ms"] / b["p99_ms"] for r, b in zip(rs, base))
        print(f"| {name} | {rps:,.0f} | {p50:.0f} | {p99:.0f} | {sum(r['errors'] for r in rs)} | {ratio:.2f}× | "
              f"{p99_ratio:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
