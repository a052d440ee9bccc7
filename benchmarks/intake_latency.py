"""Intake with the letter store on (SQLite and PostgreSQL) beside stateless /v1/classify, in the same run.

For each database a real server (``triage serve --db URL``, one worker) is started on a free loopback port and
loaded from a second process: first ``--requests`` POST /v1/classify calls (nothing stored), then as many
POST /v1/letters (classified, checked for repeats, stored with its audit event), then GET of the review queue.
Texts are real letters read at run time from ../shared/datasets/gov-messages-2020 (nothing of them is kept
here: the SQLite file and the PostgreSQL cluster live in a temp dir that is removed afterwards).
PostgreSQL is Debian's, started here with fsync on (``tests/postgres.py``), so commits are as durable as
SQLite's ``synchronous=FULL``.

    python benchmarks/intake_latency.py                         # 1000 requests each, concurrency 8
    python benchmarks/intake_latency.py --requests 2000 --concurrency 16 --json benchmarks/out/intake.json
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _baseline import cores
from _server import serve

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
MAX_CHARS = 20_000
KEY = "desk:bench:" + "b" * 32


def real_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` letters of the real dataset, shuffled (texts stay in memory only)."""
    from triage.real_letters import read_dataset

    texts = [t[:MAX_CHARS] for t in read_dataset()["text"].tolist() if t and t.strip()]
    random.Random(seed).shuffle(texts)
    return texts[:n]


async def load(url: str, method: str, path: str, bodies: list[dict | None], concurrency: int) -> dict:
    """Send every body with ``concurrency`` requests in flight; throughput and latency figures."""
    latencies, errors = [], {}
    todo = iter(bodies)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {KEY.rsplit(':', 1)[1]}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60, trust_env=False) as c:
        async def worker() -> None:
            for body in todo:
                t0 = time.perf_counter()
                try:
                    r = await c.request(method, path, json=body)
                    bad = None if r.status_code < 300 else str(r.status_code)
                except httpx.HTTPError as e:
                    bad = type(e).__name__
                latencies.append(time.perf_counter() - t0)
                if bad:
                    errors[bad] = errors.get(bad, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    ms = sorted(x * 1000 for x in latencies)
    return {"requests": len(ms), "requests_per_s": round(len(ms) / wall, 1), "p50_ms": round(statistics.median(ms), 1),
            "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 1), "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 1),
            "errors": sum(errors.values()), "errors_by_kind": errors}


def run_backend(name: str, db_url: str, texts: list[str], args) -> list[dict]:
    rows = []
    env = {"TRIAGE_API_KEYS": KEY, "TRIAGE_MAX_BATCH_ITEMS": "100"}
    with serve(args.model, 1, db=db_url, env=env) as srv:
        url = srv.url
        asyncio.run(load(url, "POST", "/v1/classify", [{"text": t} for t in texts[:20]], 4))  # warm up
        phases = [
            ("POST /v1/classify (stateless)", "POST", "/v1/classify", [{"text": t} for t in texts]),
            ("POST /v1/letters (store on)", "POST", "/v1/letters", [{"text": t, "source": "web"} for t in texts]),
            ("GET /v1/letters?status=needs_review", "GET", "/v1/letters?status=needs_review&limit=50",
             [None] * min(len(texts), 500)),
        ]
        for label, method, path, bodies in phases:
            r = asyncio.run(load(url, method, path, bodies, args.concurrency))
            rows.append({"db": name, "call": label, **r})
            print(f"{name:<11} {label:<37} {r['requests']:>6} {r['requests_per_s']:>8} {r['p50_ms']:>8} "
                  f"{r['p90_ms']:>8} {r['p99_ms']:>8} {r['errors']:>6}", flush=True)
        stats = httpx.get(f"{url}/v1/desk/stats", headers={"Authorization": f"Bearer {KEY.rsplit(':', 1)[1]}"},
                          trust_env=False).json()
        print(f"{'':<11} stored: {stats['total']} letters, {stats['by_status']}, repeats {stats['repeats']}")
        rows[-2]["stored"] = stats["total"]
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=1000, help="requests per call type (default 1000)")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    p.add_argument("--model", metavar="DIR", help="model directory (default: models/default)")
    p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the results here")
    args = p.parse_args(argv)

    texts = real_texts(args.requests)
    lengths = sorted(map(len, texts))
    print(f"{cores()}; concurrency {args.concurrency}; one server worker")
    print(f"texts: {len(texts)} real letters, chars p50 {lengths[len(lengths) // 2]}, p90 "
          f"{lengths[int(len(lengths) * .9)]}, max {lengths[-1]}")
    print(f"{'db':<11} {'call':<37} {'n':>6} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'errors':>6}")
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="triage-bench-") as tmp:
        work = Path(tmp)
        if args.db in ("sqlite", "both"):
            rows += run_backend("sqlite", f"sqlite:///{work / 'bench.db'}", texts, args)
        if args.db in ("postgresql", "both"):
            from postgres import running_postgres

            with running_postgres(durable=True) as pg:
                rows += run_backend("postgresql", pg.create_database(), texts, args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cores": cores, "concurrency": args.concurrency, "results": rows},
                                        indent=2) + "\n")
    return 1 if any(r["errors"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
