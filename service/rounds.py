"""Work that arrives while a round runs is done together in the next round.

:class:`RoundQueue` is the pattern behind micro-batched classification (:mod:`service.inference`) and
group-committed intake (:mod:`service.intake`): one consumer task takes every job queued so far (up to a size
limit), runs each group of compatible jobs in one call off the event loop, and hands each job its own result.
Nothing waits for a round to fill: a lone job runs at once. A round that fails is retried job by job, so one bad
job fails alone.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar

import anyio

J = TypeVar("J")


class RoundQueue(Generic[J]):
    """Jobs served in rounds by one consumer task (start it with :meth:`running`).

    Subclasses say how big a job is (:meth:`size`), which jobs may share a call (:meth:`key`), and run one
    group (:meth:`execute`, blocking: it runs in a worker thread), returning one result per job — a result that
    is an exception is raised to that job's caller.
    """

    name = "round-queue"

    def __init__(self, max_round: int) -> None:
        self.max_round = max_round
        self._queue: asyncio.Queue[tuple[J, asyncio.Future]] | None = None

    # -- what a subclass says -------------------------------------------------------------------------------
    def size(self, job: J) -> int:
        return 1

    def key(self, job: J) -> Hashable:
        return None

    def execute(self, jobs: list[J]) -> list[Any]:
        raise NotImplementedError

    shield = False  # True: once started, a round finishes even if the consumer is being stopped

    # -- the queue ------------------------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        return self._queue is not None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[RoundQueue[J]]:
        self._queue = asyncio.Queue()
        task = asyncio.create_task(self._consume(), name=f"triage-{self.name}")
        try:
            yield self
        finally:
            task.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.gather(task, return_exceptions=True)
            self._queue = None

    async def submit(self, job: J) -> Any:
        """The job's result once its round has run (alone, at once, when the queue is not started)."""
        if self._queue is None:
            [result] = await anyio.to_thread.run_sync(self.execute, [job])
            if isinstance(result, BaseException):
                raise result
            return result
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((job, future))
        return await future

    async def _consume(self) -> None:
        assert self._queue is not None
        while True:
            taken = [await self._queue.get()]
            size = self.size(taken[0][0])
            while size < self.max_round and not self._queue.empty():
                taken.append(self._queue.get_nowait())
                size += self.size(taken[-1][0])
            groups: dict[Hashable, list[tuple[J, asyncio.Future]]] = {}
            for item in taken:
                groups.setdefault(self.key(item[0]), []).append(item)
            for group in groups.values():
                await self._run(group)

    async def _run(self, items: list[tuple[J, asyncio.Future]]) -> None:
        if not self.shield:
            items = [(job, fut) for job, fut in items if not fut.done()]  # the client went away
            if not items:
                return
        jobs = [job for job, _ in items]
        try:
            with anyio.CancelScope(shield=self.shield):
                results = await anyio.to_thread.run_sync(self.execute, jobs)
        except Exception as e:  # noqa: BLE001 - isolate the job at fault: run each alone
            if len(items) > 1:
                for item in items:
                    await self._run([item])
            elif not items[0][1].done():
                items[0][1].set_exception(e)
            return
        for (_, future), result in zip(items, results):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
