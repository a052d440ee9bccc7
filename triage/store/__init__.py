"""The review desk's store: letters with their routing and review, and an append-only audit trail.

>>> store = open_store("sqlite:///triage.db")            # doctest: +SKIP
>>> [letter] = store.add([{"text": t, "source": "box"}], model.classify_many([t]), sha)  # doctest: +SKIP

One code path serves a SQLite file (default ``sqlite:///triage.db``, WAL mode) and PostgreSQL
(``postgresql://user@host/db``, psycopg 3). Schema changes are Alembic migrations (``triage db upgrade``).
No pandas, scikit-learn or SciPy at import.
"""
from __future__ import annotations

import os

from .deadlines import Deadlines
from .engine import StoreError, database_url, ensure_schema, make_engine, safe_url
from .letters import LetterNotFound, LetterStore, ReviewConflict
from .records import SOURCES, STATUSES, Event, Letter, Review

__all__ = [
    "SOURCES",
    "STATUSES",
    "Deadlines",
    "Event",
    "Letter",
    "LetterNotFound",
    "LetterStore",
    "Review",
    "ReviewConflict",
    "StoreError",
    "open_store",
    "safe_url",
]


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def open_store(url: str | None = None, *, raw_text: bool | None = None, retention_days: int | None = None,
               deadlines_file: str | os.PathLike | None = None) -> LetterStore:
    """Open (and, if new, create) the store at ``url`` (default ``$TRIAGE_DB_URL``, else
    ``sqlite:///triage.db``). A database at an older schema revision is refused with a clear error: run
    ``triage db upgrade``. Unset options come from ``TRIAGE_STORE_RAW_TEXT``, ``TRIAGE_RETENTION_DAYS`` and
    ``TRIAGE_DEADLINES_FILE``."""
    engine = make_engine(database_url(url))
    try:
        ensure_schema(engine)
    except Exception:
        engine.dispose()
        raise
    if raw_text is None:
        raw_text = _env_flag("TRIAGE_STORE_RAW_TEXT")
    if retention_days is None and os.environ.get("TRIAGE_RETENTION_DAYS"):
        retention_days = int(os.environ["TRIAGE_RETENTION_DAYS"])
    deadlines = Deadlines.load(deadlines_file or os.environ.get("TRIAGE_DEADLINES_FILE") or None)
    return LetterStore(engine, raw_text=raw_text, deadlines=deadlines, retention_days=retention_days)
