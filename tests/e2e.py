"""Shared by the end-to-end tests: the real service in a subprocess, and headless Chromium driven by Playwright."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
#: Without the networking flags Chromium stalls on this closed network; a fresh profile per run.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).parent / "artifacts"
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_service(env: dict[str, str], timeout: float = 60) -> Iterator[str]:
    """``uvicorn service.main:create_app --factory`` on a free loopback port with ``env``; yields its base URL
    once ``/readyz`` answers 200, and stops it at the end."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "service.main:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited: {proc.stdout.read().decode(errors='replace')[-2000:]}")
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server did not become ready within {timeout:.0f} s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def chromium(profile_dir: Path, **context_options) -> Iterator[object]:
    """A Playwright browser context on Debian's Chromium (never a downloaded browser), or a skip when it is
    missing — a failure instead when ``TRIAGE_REQUIRE_BROWSER`` is set, as CI sets it."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("TRIAGE_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing but TRIAGE_REQUIRE_BROWSER is set: apt-get install -y chromium")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(profile_dir), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, locale="zh-CN",
            **context_options,
        )
        try:
            yield ctx
        finally:
            ctx.close()
