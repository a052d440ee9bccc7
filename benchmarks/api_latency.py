"""Load the intake-desk API from a second process and report requests/s, p50, p99 and errors.

Starts the service as ``triage serve`` runs it on a free loopback port (or targets ``--url``, loopback only), then
sends ``--requests`` POST /v1/classify calls at each ``--concurrency`` level. Texts are realistic letters:
read at run time from the gov-messages dataset when it is present (nothing of it is stored in the repo),
else generated.

    python benchmarks/api_latency.py                                  # own server, default model
    python benchmarks/api_latency.py --requests 3000 --concurrency 1,32 --json benchmarks/out/api.json
    python benchmarks/api_latency.py --url http://127.0.0.1:8000 --api-key "$KEY"
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import random
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from _server import serve, wait_ready

from triage.real_letters import default_dataset_dir

#: ``../shared/datasets/gov-messages-2020/unlabelled.csv`` beside the repository (or under $TRIAGE_REAL_DATASET).
DATASET = default_dataset_dir() / "unlabelled.csv"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
MAX_REQUESTS = 20_000
MAX_CONCURRENCY = 256
MAX_CHARS = 20_000


# -- texts -------------------------------------------------------------------------------------------------
def dataset_texts(path: Path, limit: int = 5000) -> list[str]:
    """Title + body of up to ``limit`` letters, read now; nothing is copied anywhere."""
    csv.field_size_limit(10_000_000)
    out = []
    with open(path, encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            text = f"{row.get('title', '')}\n{row.get('text', '')}".strip()
            if text:
                out.append(text[:MAX_CHARS])
            if len(out) >= limit:
                break
    return out


_PLACES = ["东坝镇", "西坝镇", "南湖乡", "北山镇", "古城镇", "县城", "王家湾村", "城北某小区"]
_BODIES = ["派出所", "户籍窗口", "政务大厅", "医保中心", "不动产登记中心", "卫生院", "住建局", "市场监管所", "供电所"]
_ISSUES = [
    "材料交齐了却说还要再等等，一拖就是三个多月",
    "窗口下午三点就没人了，桌上贴个条子说外出",
    "工作人员态度生硬，问两句就不耐烦，让我们回去等电话",
    "打了三次热线，每次回复都说已解决，其实根本没人来过",
    "说是系统升级办不了，让我们反复跑了五趟",
    "镇里说归局里管，局里说归镇里管，谁都不管",
]
_FILLERS = [
    "家里老人身体不好，实在经不起这么折腾。", "希望领导重视，尽快给个准话。", "孩子上学报名等着用，耽误不起。",
    "我们也理解工作忙，但总得有个期限。", "请有关部门核实情况，依法依规处理。", "来电人情绪较为激动，要求尽快回复。",
]


def generated_texts(n: int, seed: int = 0) -> list[str]:
    """Letters of 40 to about 600 characters, built from phrases like those clerks receive."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = [f"{rng.choice(_PLACES)}{rng.choice(_BODIES)}{rng.choice(_ISSUES)}。"]
        parts += rng.choices(_FILLERS, k=rng.choice([0, 1, 2, 4, 8, 16]))
        out.append("".join(parts))
    return out


# -- load --------------------------------------------------------------------------------------------------
async def run_level(url: str, texts: list[str], n: int, concurrency: int, headers: dict[str, str]) -> dict:
    """Send ``n`` requests with ``concurrency`` in flight; return throughput and latency figures."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    counter = iter(range(n))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=30) as client:
        async def worker() -> None:
            for i in counter:
                t0 = time.perf_counter()
                try:
                    r = await client.post("/v1/classify", json={"text": texts[i % len(texts)], "top_k": 3})
                    key = None if r.status_code == 200 else str(r.status_code)
                except httpx.HTTPError as e:
                    key = type(e).__name__
                latencies.append(time.perf_counter() - t0)
                if key:
                    errors[key] = errors.get(key, 0) + 1

        for i in range(min(20, len(texts))):  # warm up connections and caches
            await client.post("/v1/classify", json={"text": texts[i], "top_k": 3})
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    ms = sorted(x * 1000 for x in latencies)
    return {
        "concurrency": concurrency,
        "requests": len(ms),
        "seconds": round(wall, 2),
        "requests_per_s": round(len(ms) / wall, 1),
        "p50_ms": round(statistics.median(ms), 1),
        "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 1),
        "mean_ms": round(statistics.fmean(ms), 1),
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
    }


def machine() -> dict:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="target a running server (loopback only); default: start one")
    p.add_argument("--model", metavar="DIR", help="model for the server started here (default: models/default)")
    p.add_argument("--workers", type=int, default=1, help="uvicorn workers of the server started here")
    p.add_argument("--requests", type=int, default=2000, help=f"requests per concurrency level (max {MAX_REQUESTS})")
    p.add_argument("--concurrency", default="1,32", help="comma-separated levels (default 1,32)")
    p.add_argument("--texts", choices=["auto", "dataset", "generated"], default="auto",
                   help="letters from the gov-messages dataset (if present) or generated ones")
    p.add_argument("--dataset", type=Path, default=DATASET)
    p.add_argument("--api-key", default=os.environ.get("TRIAGE_BENCH_API_KEY"), help="Bearer key, if the server wants one")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the results here (benchmarks/out/ is git-ignored)")
    args = p.parse_args(argv)

    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    if not 1 <= args.requests <= MAX_REQUESTS or not all(1 <= c <= MAX_CONCURRENCY for c in levels):
        p.error(f"--requests must be 1..{MAX_REQUESTS} and each concurrency 1..{MAX_CONCURRENCY}")
    if args.url and urlsplit(args.url).hostname not in LOOPBACK:
        p.error("--url must point at this machine (127.0.0.1, localhost or ::1): this tool loads servers hard")

    use_dataset = args.texts == "dataset" or (args.texts == "auto" and args.dataset.exists())
    texts = dataset_texts(args.dataset) if use_dataset else generated_texts(2000)
    random.Random(0).shuffle(texts)
    lengths = sorted(len(t) for t in texts)
    source = f"{args.dataset.name} ({len(texts)} letters)" if use_dataset else f"generated ({len(texts)} letters)"
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}

    results = []
    with (_own(args.model, args.workers) if not args.url else _target(args.url)) as url:
        info = httpx.get(f"{url}/readyz", timeout=5).json()
        print(f"server {url}  model {info['model']['name']} {info['model']['sha256']}  "
              f"workers {args.workers if not args.url else '?'}")
        print(f"texts: {source}; chars p50 {lengths[len(lengths) // 2]}, p90 {lengths[int(len(lengths) * .9)]}, "
              f"max {lengths[-1]}")
        print(f"machine: {machine()}")
        print(f"{'conc':>5} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'errors':>7}")
        for c in levels:
            r = asyncio.run(run_level(url, texts, args.requests, c, headers))
            results.append(r)
            print(f"{c:>5} {r['requests']:>9} {r['requests_per_s']:>8} {r['p50_ms']:>8} {r['p99_ms']:>8} "
                  f"{r['mean_ms']:>8} {r['errors']:>7}" + (f"  {r['errors_by_kind']}" if r["errors"] else ""))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine(), "texts": source, "results": results}, indent=2) + "\n")
    return 1 if any(r["errors"] for r in results) else 0


@contextmanager
def _own(model_dir: str | None, workers: int):
    with serve(model_dir, workers) as server:
        yield server.url


@contextmanager
def _target(url: str):
    wait_ready(url.rstrip("/"), timeout=10)
    yield url.rstrip("/")


if __name__ == "__main__":
    sys.exit(main())
