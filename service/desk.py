"""The review desk's part of the service's life: open the letter store at start-up, purge old texts, close it.

If the store cannot be opened the service still starts (classification keeps working) and the desk's routes
answer 503 ``store_unavailable`` with the reason, as ``/readyz`` does for the model.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

from .config import Settings
from .intake import IntakeWriter

log = logging.getLogger("service")


def open_desk(app: FastAPI, settings: Settings) -> None:
    """Open ``settings.db_url`` into ``app.state.store`` (None with the reason in ``store_error`` on failure),
    then apply the retention setting."""
    app.state.store, app.state.store_error = None, None
    if not settings.db_url:
        app.state.store_error = "no letter store configured: set TRIAGE_DB_URL or start with `triage serve --db URL`"
        return
    from triage.store import open_store, safe_url

    try:
        store = open_store(settings.db_url, raw_text=settings.store_raw_text,
                           retention_days=settings.retention_days, deadlines_file=settings.deadlines_file)
        purged = store.purge()
    except Exception as e:  # noqa: BLE001 - a running service that says why beats one that will not start
        app.state.store_error = f"{type(e).__name__}: {e}"
        log.error("letter store %s not opened: %s", safe_url(settings.db_url), app.state.store_error)
        return
    app.state.store = store
    log.info("letter store %s open%s%s", safe_url(settings.db_url), "; raw texts" if settings.store_raw_text else "",
             f"; {purged} texts past retention purged" if purged else "")


async def _warm_up(store) -> None:
    try:
        n = await anyio.to_thread.run_sync(store.warm_up)
        log.info("repeat index built: %d letters of the last 30 days", n)
    except Exception as e:  # noqa: BLE001 - the first intake builds it instead
        log.warning("repeat index not built at start-up (%s: %s); the first intake will", type(e).__name__, e)


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[None]:
    """Open the store (off the event loop), run the intake writer (group commit) and listen for SIGHUP (reload
    the model) while the app runs."""
    from .routes.admin import listen_for_sighup

    await anyio.to_thread.run_sync(open_desk, app, app.state.settings)
    warm = None
    if app.state.store is not None:  # the repeat index, built while the service already answers
        warm = asyncio.create_task(_warm_up(app.state.store), name="triage-repeat-index")
    async with IntakeWriter().running() as writer:
        app.state.intake_writer = writer
        with listen_for_sighup(app):
            try:
                yield
            finally:
                if warm is not None:  # a thread cannot be stopped: let it finish before the store closes
                    with anyio.CancelScope(shield=True):
                        await asyncio.gather(warm, return_exceptions=True)
                store, app.state.store = getattr(app.state, "store", None), None
                if store is not None:
                    store.close()
