"""Load soak: the real service under uvicorn on loopback, N requests at concurrency C, errors / latency / memory.

    python benchmarks/load_soak.py [--requests 20000] [--concurrency 64] [--model DIR] [--max-rss-growth-mb 64]

Starts the service as ``triage serve`` runs it on 127.0.0.1 at a free port (loopback only), waits for
/readyz, then sends POST /v1/classify with letters from data/dev.csv (or tests/data/tiny.csv) from an
httpx.AsyncClient with C concurrent workers. It stops by itself: after N requests or --max-seconds, whichever
comes first. Reported: errors (anything but 200, or a transport failure; must be 0), p50/p99 latency and
requests/s over the first and the last 2,000 requests, and the server's RSS at ready, after the first 2,000
requests (warm) and at the end. Exit status 1 if there was any error or the RSS grew by more than
--max-rss-growth-mb between warm and end; 0 otherwise.

The model is --model, else models/default if it exists, else a tiny one trained into a temporary directory.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _server import serve

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 2_000


def rss_mb(pid: int) -> float:
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss / 2**20
    except ImportError:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def pick_model(given: str | None) -> tuple[Path, tempfile.TemporaryDirectory | None]:
    if given:
        return Path(given), None
    default = ROOT / "models" / "default"
    if (default / "manifest.json").exists():
        return default, None
    from triage.train import train_and_save

    tmp = tempfile.TemporaryDirectory(prefix="triage-soak-")
    out = Path(tmp.name) / "tiny"
    train_and_save([ROOT / "tests" / "data" / "tiny.csv"], out, cv=0)
    return out, tmp


def letters() -> list[str]:
    for path in (ROOT / "data" / "dev.csv", ROOT / "tests" / "data" / "tiny.csv"):
        if path.exists():
            with open(path, encoding="utf-8-sig", newline="") as f:
                texts = [r["text"] for r in csv.DictReader(f) if r.get("text", "").strip()]
            if texts:
                return texts
    return ["东坝派出所户籍窗口下午三点就没人了，等了一下午也没办成。"]


async def soak(base: str, n: int, concurrency: int, max_seconds: float, texts: list[str], pid: int):
    """Send ``n`` requests; return (records, rss_warm). A record is (start, end, status or exception name)."""
    rng = random.Random(0)
    bodies = [{"text": rng.choice(texts)} for _ in range(min(n, 5_000))]
    records: list[tuple[float, float, object]] = []
    next_i = 0
    rss_warm: list[float] = []
    failures: list[str] = []
    deadline = time.monotonic() + max_seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60, trust_env=False) as client:
        async def worker() -> None:
            nonlocal next_i
            while next_i < n and time.monotonic() < deadline:
                i = next_i
                next_i += 1
                t0 = time.perf_counter()
                try:
                    r = await client.post("/v1/classify", json=bodies[i % len(bodies)])
                    outcome: object = r.status_code
                    if r.status_code == 200 and "category" not in r.json():
                        outcome = "bad-body"
                except Exception as e:  # noqa: BLE001 - a failure is a counted error, not a crash
                    outcome = type(e).__name__
                    failures.append(f"request {i} after {time.perf_counter() - t0:.2f}s: {e!r} {e.__cause__!r}")
                records.append((t0, time.perf_counter(), outcome))
                if len(records) == WINDOW and not rss_warm:
                    rss_warm.append(rss_mb(pid))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    for line in failures[:10]:
        print("  error:", line, file=sys.stderr)
    return records, (rss_warm[0] if rss_warm else float("nan"))


def window_stats(records) -> tuple[float, float, float]:
    lat = sorted((e - s) * 1000 for s, e, _ in records)
    p50 = statistics.median(lat)
    p99 = lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))]
    span = max(e for _, e, _ in records) - min(s for s, _, _ in records)
    return p50, p99, len(records) / span if span > 0 else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--model", default=None, help="model directory (default: models/default, else a tiny one)")
    ap.add_argument("--max-seconds", type=float, default=900, help="stop sending after this long (default 900)")
    ap.add_argument("--max-rss-growth-mb", type=float, default=64,
                    help="allowed RSS growth between warm (first 2,000 requests) and end (default 64 MB)")
    args = ap.parse_args(argv)

    model_dir, tmp = pick_model(args.model)
    try:
        t_start = time.monotonic()
        with serve(model_dir) as server:
            ready_s = time.monotonic() - t_start
            rss_ready = rss_mb(server.proc.pid)
            t0 = time.perf_counter()
            records, rss_warm = asyncio.run(
                soak(server.url, args.requests, args.concurrency, args.max_seconds, letters(), server.proc.pid))
            wall = time.perf_counter() - t0
            rss_end = rss_mb(server.proc.pid)
            alive = server.proc.poll() is None
            port = server.port
    finally:
        if tmp is not None:
            tmp.cleanup()

    records.sort(key=lambda r: r[1])  # completion order
    errors = [o for _, _, o in records if o != 200]
    first, last = records[:WINDOW], records[-WINDOW:]
    f50, f99, frps = window_stats(first)
    l50, l99, lrps = window_stats(last)
    growth = rss_end - rss_warm

    print(f"model: {model_dir}   server: triage serve (uvicorn, 1 worker), 127.0.0.1:{port} (ready in {ready_s:.1f}s)")
    print(f"requests: {len(records):,} of {args.requests:,} at concurrency {args.concurrency} in {wall:.1f}s "
          f"({len(records) / wall:,.0f} req/s overall); errors: {len(errors)}"
          + (f" {sorted(set(map(str, errors)))}" if errors else ""))
    print()
    print(f"{'window':<22}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}")
    print(f"{'first ' + format(len(first), ',') + ' requests':<22}{f50:>9.1f}{f99:>9.1f}{frps:>9.0f}")
    print(f"{'last ' + format(len(last), ',') + ' requests':<22}{l50:>9.1f}{l99:>9.1f}{lrps:>9.0f}")
    print()
    print(f"{'server RSS':<22}{'MB':>9}")
    print(f"{'at ready':<22}{rss_ready:>9.1f}")
    print(f"{'after first ' + format(WINDOW, ','):<22}{rss_warm:>9.1f}")
    print(f"{'at end':<22}{rss_end:>9.1f}")
    print(f"growth warm → end: {growth:+.1f} MB (bound {args.max_rss_growth_mb:g} MB); server alive at end: {alive}")

    ok = not errors and len(records) == args.requests and growth <= args.max_rss_growth_mb and alive
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
