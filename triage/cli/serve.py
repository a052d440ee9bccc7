"""``triage serve``: run the intake-desk web service (API + page) with uvicorn.

uvicorn and ``service`` are imported only when the command runs, so the library stays free of HTTP.
"""
from __future__ import annotations

import argparse
import copy
import os
import sys

from ._common import add_model_arg

#: Seconds an idle connection stays open (uvicorn's default of 5 dropped requests in the load test).
KEEP_ALIVE_SECONDS = 75


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="run the web service: the API under /v1 and the page at /")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--workers", type=int, default=1, help="worker processes, each with its own model (default 1)")
    add_model_arg(p)
    p.add_argument("--db", metavar="URL", default=None,
                   help="the review desk's letter store (default $TRIAGE_DB_URL, else sqlite:///triage.db here)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(run=run)


def log_config() -> dict:
    """uvicorn's logging config plus the service's loggers (one access line per request, no texts)."""
    from uvicorn.config import LOGGING_CONFIG

    cfg = copy.deepcopy(LOGGING_CONFIG)
    cfg["loggers"]["service"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return cfg


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - uvicorn is a dependency
        print("error: uvicorn is not installed; `pip install 'uvicorn[standard]'`.", file=sys.stderr)
        return 1
    if args.workers < 1:
        print("error: --workers must be at least 1.", file=sys.stderr)
        return 2
    if args.model:
        # Settings (and every worker process) read the model directory from the environment.
        os.environ["TRIAGE_MODEL_DIR"] = str(args.model)
    # The desk keeps letters: --db, else $TRIAGE_DB_URL, else triage.db in the working directory.
    os.environ["TRIAGE_DB_URL"] = args.db or os.environ.get("TRIAGE_DB_URL") or "sqlite:///triage.db"
    uvicorn.run(
        "service.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        log_config=log_config(),
        access_log=False,  # service.access logs each request with its id instead
        proxy_headers=False,
        # Clients reuse connections; under load a short keep-alive closes one just as a request is sent on it.
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    return 0
