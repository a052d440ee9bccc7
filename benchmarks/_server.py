"""The service as ``triage serve`` runs it, on a free loopback port: shared by the HTTP benchmarks."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen | None = None, timeout: float = 180) -> None:
    """Poll ``/readyz`` until 200; stop at once if the server exits or reports a model it could not load."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"server exited with code {proc.returncode}")
        try:
            r = httpx.get(f"{url}/readyz", timeout=2, trust_env=False)
            if r.status_code == 200:
                return
            if r.status_code == 503 and "starting" not in r.text:
                raise SystemExit(f"{url} is up but its model is not loaded: {r.text[:300]}")
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} was not ready within {timeout:.0f} s")


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    port: int
    _log: object

    def log_tail(self, lines: int = 15) -> list[str]:
        """The last lines the server wrote to stderr (its logs carry ids and labels, never letters)."""
        self._log.seek(0)
        return self._log.read().decode(errors="replace").strip().splitlines()[-lines:]


@contextmanager
def serve(model_dir: str | Path | None = None, workers: int = 1, *, db: str | None = None,
          env: dict[str, str] | None = None) -> Iterator[Server]:
    """Run ``triage serve`` on 127.0.0.1 in a subprocess until the block ends; yield it once ready.

    The review desk's store is ``db``, or a SQLite file in a temporary directory removed afterwards (never the
    ``triage.db`` that ``triage serve`` would keep in the working directory). ``env`` adds to the environment.
    """
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile() as log:
        cmd = [sys.executable, "-m", "triage", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers), "--log-level", "warning", "--db", db or f"sqlite:///{tmp}/desk.db"]
        if model_dir:
            cmd += ["--model", str(model_dir)]
        full_env = {k: v for k, v in os.environ.items() if k != "TRIAGE_API_KEYS"} | (env or {})
        proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=log)
        server = Server(f"http://127.0.0.1:{port}", proc, port, log)
        try:
            wait_ready(server.url, proc)
            yield server
        except BaseException:
            tail = server.log_tail()
            if tail:
                print("server stderr (last lines):\n  " + "\n  ".join(tail), file=sys.stderr)
            raise
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
