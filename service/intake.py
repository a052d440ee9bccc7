"""Storing letters off the event loop, with group commit.

Intake requests that arrive while the store is writing are stored together in one transaction
(:meth:`triage.store.LetterStore.add_groups`): one commit, so one disk flush, for all of them. A lone request is
written at once. One consumer task writes at a time, which is what the store does anyway (SQLite has one
writer; the repeat index is shared per process).
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio

#: Most letters written in one transaction; a larger single request still goes whole.
MAX_ROUND_LETTERS = 256


@dataclass
class _Job:
    store: Any
    items: list[Mapping[str, Any]]
    predictions: list[Any]
    model_sha: str
    by: str | None
    future: asyncio.Future = field(repr=False)


class IntakeWriter:
    """Queue of store writes served by one consumer task (start it with :meth:`running`)."""

    def __init__(self, max_round_letters: int = MAX_ROUND_LETTERS) -> None:
        self.max_round_letters = max_round_letters
        self._queue: asyncio.Queue[_Job] | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[IntakeWriter]:
        self._queue = asyncio.Queue()
        task = asyncio.create_task(self._consume(), name="triage-intake-writer")
        try:
            yield self
        finally:
            task.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.gather(task, return_exceptions=True)
            self._queue = None

    async def add(self, store: Any, items: Sequence[Mapping[str, Any]], predictions: Sequence[Any], model_sha: str,
                  by: str | None) -> list[Any]:
        """``store.add(items, predictions, model_sha, by)``, possibly in one transaction with other requests'."""
        if self._queue is None:  # not started (no lifespan): write alone
            return await anyio.to_thread.run_sync(store.add, list(items), list(predictions), model_sha, by)
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(store, list(items), list(predictions), model_sha, by, future))
        return await future

    async def _consume(self) -> None:
        assert self._queue is not None
        while True:
            jobs = [await self._queue.get()]
            size = len(jobs[0].items)
            while size < self.max_round_letters and not self._queue.empty():
                jobs.append(self._queue.get_nowait())
                size += len(jobs[-1].items)
            for store in {id(j.store): j.store for j in jobs}.values():
                await self._run([j for j in jobs if j.store is store])

    async def _run(self, jobs: list[_Job]) -> None:
        store = jobs[0].store
        try:
            # shielded: once written, a letter's id must reach its caller even if the consumer is being stopped
            with anyio.CancelScope(shield=True):
                results = await anyio.to_thread.run_sync(
                    store.add_groups, [(j.items, j.predictions, j.model_sha, j.by) for j in jobs])
        except Exception as e:  # noqa: BLE001
            if len(jobs) > 1:  # isolate the job at fault: write each alone
                for job in jobs:
                    await self._run([job])
                return
            if not jobs[0].future.done():
                jobs[0].future.set_exception(e)
            return
        for job, result in zip(jobs, results):
            if job.future.done():  # the client went away; its letters are stored all the same
                continue
            if isinstance(result, Exception):
                job.future.set_exception(result)
            else:
                job.future.set_result(result)
