"""Classification off the event loop, with opportunistic micro-batching.

Requests that arrive while the model is busy are classified together in one ``model.classify_many`` call
(three times the throughput of one call per text). Nothing waits for a batch to fill: a lone request runs at
once, so latency at low load is unchanged. One worker thread at a time runs the model, which avoids threads
fighting over the GIL; more cores are used through ``triage serve --workers N``.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio

from triage import InputTextError, Prediction, Predictor

log = logging.getLogger("service")
#: Most texts classified in one call; a larger single request still runs whole.
MAX_ROUND_TEXTS = 64


@dataclass
class _Job:
    model: Predictor
    texts: list[str]
    top_k: int
    max_chars: int
    future: asyncio.Future = field(repr=False)


class Classifier:
    """Queue of classification jobs served by one consumer task (start it with :meth:`running`)."""

    def __init__(self, max_round_texts: int = MAX_ROUND_TEXTS) -> None:
        self.max_round_texts = max_round_texts
        self._queue: asyncio.Queue[_Job] | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Classifier]:
        self._queue = asyncio.Queue()
        task = asyncio.create_task(self._consume(), name="triage-classifier")
        try:
            yield self
        finally:
            task.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.gather(task, return_exceptions=True)
            self._queue = None

    async def classify(
        self, model: Predictor, texts: Sequence[str], *, top_k: int, max_chars: int
    ) -> list[Prediction | InputTextError]:
        """``model.classify_many(texts, top_k=top_k, max_chars=max_chars, errors="return")``, possibly shared with
        other requests: a text the model refuses comes back as its :class:`InputTextError`."""
        if self._queue is None:  # not started (e.g. no lifespan): run alone
            return await anyio.to_thread.run_sync(
                lambda: model.classify_many(list(texts), top_k=top_k, max_chars=max_chars, errors="return"))
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(model, list(texts), top_k, max_chars, future))
        return await future

    async def _consume(self) -> None:
        assert self._queue is not None
        while True:
            jobs = [await self._queue.get()]
            size = len(jobs[0].texts)
            while size < self.max_round_texts and not self._queue.empty():
                jobs.append(self._queue.get_nowait())
                size += len(jobs[-1].texts)
            groups: dict[tuple[int, int], list[_Job]] = {}
            for job in jobs:
                groups.setdefault((id(job.model), job.max_chars), []).append(job)
            for group in groups.values():
                await self._run(group)

    async def _run(self, jobs: list[_Job]) -> None:
        jobs = [j for j in jobs if not j.future.done()]  # the client went away
        if not jobs:
            return
        model, max_chars = jobs[0].model, jobs[0].max_chars
        top_k = max(j.top_k for j in jobs)
        texts = [t for j in jobs for t in j.texts]
        try:
            preds = await anyio.to_thread.run_sync(
                lambda: model.classify_many(texts, top_k=top_k, max_chars=max_chars, errors="return"))
        except Exception as e:  # noqa: BLE001
            if len(jobs) > 1:  # isolate the job at fault: run each alone
                for job in jobs:
                    await self._run([job])
                return
            jobs[0].future.set_exception(e)
            return
        at = 0
        for job in jobs:
            mine = preds[at : at + len(job.texts)]
            at += len(job.texts)
            for p in mine:  # ranking does not depend on top_k: trimming gives what top_k=job.top_k gives
                if isinstance(p, Prediction):
                    del p.alternatives[max(job.top_k, 1) - 1 :]
            if not job.future.done():
                job.future.set_result(mine)
