"""Storing letters off the event loop, with group commit.

Intake requests that arrive while the store is writing are stored together in one transaction
(:meth:`triage.store.LetterStore.add_groups`): one commit, so one disk flush, for all of them. A lone request is
written at once. One consumer task writes at a time, which is what the store does anyway (SQLite has one
writer; the repeat index is shared per process).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .rounds import RoundQueue

#: Most letters written in one transaction; a larger single request still goes whole.
MAX_ROUND_LETTERS = 256


@dataclass
class _Job:
    store: Any
    items: list[Mapping[str, Any]]
    predictions: list[Any]
    model_sha: str
    by: str | None


class IntakeWriter(RoundQueue[_Job]):
    """Store writes served in rounds by one consumer task (start it with :meth:`running`)."""

    name = "intake-writer"
    shield = True  # once written, a letter's id must reach its caller even if the consumer is being stopped

    def __init__(self, max_round_letters: int = MAX_ROUND_LETTERS) -> None:
        super().__init__(max_round_letters)

    async def add(self, store: Any, items: Sequence[Mapping[str, Any]], predictions: Sequence[Any], model_sha: str,
                  by: str | None) -> list[Any]:
        """``store.add(items, predictions, model_sha, by)``, possibly in one transaction with other requests'."""
        return await self.submit(_Job(store, list(items), list(predictions), model_sha, by))

    def size(self, job: _Job) -> int:
        return len(job.items)

    def key(self, job: _Job) -> int:
        return id(job.store)

    def execute(self, jobs: list[_Job]) -> list[Any]:
        return jobs[0].store.add_groups([(j.items, j.predictions, j.model_sha, j.by) for j in jobs])
